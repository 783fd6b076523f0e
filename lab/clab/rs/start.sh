#!/bin/sh
# The route server's container (python:3.11-slim-bookworm): install bgpsteer (and its pinned ExaBGP) from the
# bound repository, render ExaBGP's config from the bound bgpsteer config, run ExaBGP in the foreground.
set -eu
python -m venv /opt/bgpsteer
/opt/bgpsteer/bin/pip install -q /bgpsteer
mkdir -p /run/exabgp /tmp/bgpsteer-lab-state
/opt/bgpsteer/bin/bgpsteer exabgp-config /etc/bgpsteer/bgpsteer.yaml -o /run/exabgp \
  --command "/opt/bgpsteer/bin/python -m bgpsteer run --config /etc/bgpsteer/bgpsteer.yaml"
set -a
. /run/exabgp/exabgp.env
set +a
exec /opt/bgpsteer/bin/exabgp /run/exabgp/exabgp.conf
