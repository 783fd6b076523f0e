"""Small configs for core tests, built through the real loader."""

from __future__ import annotations

import textwrap

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
