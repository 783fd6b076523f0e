#!/usr/bin/env bash
# The main job: bring up the lab, show what the core learned and why, fail and degrade an egress, tear down;
# then every scenario of lab/scenarios on the containerlab topology, with an HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install
PY="${BGPSTEER_VENV:-.venv}/bin/python"
"$PY" lab/demo.py
"$PY" -m lab.scenario run --all --report "${BGPSTEER_REPORT:-/tmp/bgpsteer-report}"
