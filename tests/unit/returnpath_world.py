"""A small world for the return path's tests: three egresses (one in the UK), an AWS Transit Gateway reached
through two of them and an Azure gateway through the third, an EU-bound site prefix, and an engine started on it."""

from __future__ import annotations

from typing import Any

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Effect, RoutesAnnounced, Withdraw
from lab.textedit import yaml_edited

FRA, AMS, LON = "10.1.0.2", "10.2.0.2", "10.3.0.2"  # aws via fra, aws via ams, azure via lon
CONFIG = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1}
  - {id: ams, region: eu-west, jurisdiction: EU, next_hop: 10.255.0.2}
  - {id: lon, region: uk, jurisdiction: UK, next_hop: 10.255.0.3}
cloud_peers:
  - {name: aws-fra, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1, cloud: tgw}
  - {name: aws-ams, address: 10.2.0.2, asn: 64512, egress: ams, provider: aws, region: eu-central-1, cloud: tgw}
  - {name: azure-lon, address: 10.3.0.2, asn: 65515, egress: lon, provider: azure, region: uksouth}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
sets:
  prefix:
    eu-data: ["10.100.0.0/16 le 24"]
compliance:
  - {name: gdpr, prefixes: eu-data, jurisdictions: [EU]}
steering: {max_down: 2}
site: {prefixes: [10.100.0.0/16, 10.101.0.0/16]}
policy:
  import:
    default: accept
    statements:
      - {name: fra-first, match: {egress: fra}, set: {local_pref: 200}, then: accept}
  export: {default: accept}
"""
AWS_ROUTES = ["172.31.0.0/16", "172.32.0.0/16", "172.33.0.0/16"]


def sent(effects: list[Effect], peer: str) -> tuple[dict[str, Attrs], set[str]]:
    """What the effects announce to and withdraw from one cloud session."""
    ann: dict[str, Attrs] = {}
    wd: set[str] = set()
    for e in effects:
        if isinstance(e, Announce) and e.peer == peer:
            ann.update(dict.fromkeys(e.prefixes, e.attrs))
        elif isinstance(e, Withdraw) and e.peer == peer:
            wd.update(e.prefixes)
    return ann, wd


def started(text: str = CONFIG) -> tuple[Engine, list[Effect]]:
    eng = Engine(parse(text, "t.yaml"))
    effects = eng.start(0.0)
    for peer in (FRA, AMS):
        eng.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(64512,)), AWS_ROUTES), 0.0)
    eng.handle(RoutesAnnounced(LON, 4, Attrs(next_hop=LON, as_path=(65515,)), ["10.50.0.0/16"]), 0.0)
    return eng, effects + eng.flush(0.0)


def with_return(policy: dict[str, Any], text: str = CONFIG) -> str:
    """The world's config with this ``policy.return``."""

    def edit(d: dict[str, Any]) -> None:
        d["policy"]["return"] = policy

    return yaml_edited(text, edit)
