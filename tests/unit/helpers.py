"""Small configs for core tests, built through the real loader."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from bgpsteer.config.loader import parse
from bgpsteer.core.config import Config

BASE = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1, next_hop6: "fd00:255::1",
     gateway6: "fd00::11"}
  - {id: ams, region: eu-west, jurisdiction: EU, cost_per_gb: 0.01, next_hop: 10.255.0.2, next_hop6: "fd00:255::2",
     gateway6: "fd00::12"}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1, families: [ipv4, ipv6]}
  - {name: gcp, address: 10.2.0.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4, families: [ipv4, ipv6]}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000, families: [ipv4, ipv6]}
"""


def config(policy: str, extra: str = "") -> Config:
    return parse(BASE + textwrap.dedent(extra) + textwrap.dedent(policy), "test.yaml")


ACCEPT_ALL = """
policy:
  import: {default: accept}
  export: {default: accept}
"""


# three egresses (one outside the EU), one cloud peer each, an EU-only compliance rule: steering and view tests
PROBES = """
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1,
     probe: {type: icmp, targets: [192.0.2.1]}, health: {rise: 2, fall: 3, hold_down: 10, dampening: false}}
  - {id: ams, region: eu-west, jurisdiction: EU, next_hop: 10.255.0.2,
     probe: {type: icmp, targets: [192.0.2.2]}, health: {rise: 2, fall: 3, hold_down: 10, dampening: false}}
  - {id: iad, region: us-east, jurisdiction: US, next_hop: 10.255.0.3,
     probe: {type: icmp, targets: [192.0.2.3]}, health: {rise: 2, fall: 3, hold_down: 10, dampening: false}}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
  - {name: gcp, address: 10.2.0.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}
  - {name: azure, address: 10.3.0.2, asn: 8075, egress: iad, provider: azure, region: eastus}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
sets:
  prefix:
    eu-only: ["10.50.0.0/16 le 24"]
compliance:
  - {name: gdpr, prefixes: eu-only, jurisdictions: [EU]}
"""
PEERS = {"fra": "10.1.0.2", "ams": "10.2.0.2", "iad": "10.3.0.2"}


# containerlab's JSON schema (vendored in lab/containerlab with its provenance); its one ECMA class rewritten for
# Python's re: [\p{N}\p{L}] (a letter or digit) is [^\W_]
CLAB_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "lab" / "containerlab" / "clab.schema.json")
    .read_text()
    .replace("[\\\\p{N}\\\\p{L}]", "[^\\\\W_]")
)
