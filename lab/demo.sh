#!/usr/bin/env bash
# The main job: bring up the lab, show what the core learned and why, fail and degrade an egress, tear down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install
exec "${BGPSTEER_VENV:-.venv}/bin/python" lab/demo.py
