"""The JSON Schema of a bgpsteer config, for editors (a YAML language server validates and completes with it).

Nothing here restates the config's rules:
- keys, what is required, types, ranges and choices are recorded from the loader itself while it reads
  ``SOURCE`` below, a config that uses every key (and every shape a key accepts);
- defaults come from the model's dataclasses (the loader takes its defaults from the same place);
- descriptions come from the tables of policies/README.md when it is at hand.
A test proves SOURCE reaches every key the loader knows, and that the schema accepts the shipped configs
and rejects unknown keys and wrong types.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from bgpsteer.config import loader
from bgpsteer.config.nodes import Issues, Recorder
from bgpsteer.core import model

SOURCE = """
agent:
  local_asn: 65000
  router_id: 10.250.0.1
  local_address: 10.250.0.1
  hold_time: 90
  log_level: info
  state_dir: /var/lib/bgpsteer
  control_socket: /run/bgpsteer/control.sock
  control_group: root
  metrics: 127.0.0.1:9474
  journal_max_bytes: 67108864
  record_max_bytes: 268435456
  graceful_restart: 120
  ready_timeout: 60
safety:
  reject_special_purpose: true
  reject_private: false
  reject_martian_next_hop: true
  allow_default: false
  max_length: {ipv4: 24, ipv6: 48}
  max_prefix: {limit: 100000, action: stop}
egresses:
  - id: fra
    region: eu-central
    jurisdiction: EU
    cost_per_gb: 0.02
    next_hop: 10.255.0.1
    next_hop6: fd00:255::1
    path_id: 1
    gateway: 10.250.0.11
    gateway6: fd00:250::11
    probe: {type: icmp, targets: [10.99.1.10, 10.99.1.11], source: 10.250.1.1, device: vpn-fra, interval: 0.1,
            timeout: 0.08, min_up: 1, window: 300}
    health: {rise: 3, fall: 3, hold_down: 10, dampening: {penalty: 1000, half_life: 60, suppress: 3000, reuse: 750}}
    tunnel: {type: ipsec, ike: fra, child: fra-c, vici: /var/run/charon.vici}
    capacity_mbps: 500
    utilization: {type: snmp, host: 10.252.1.2, device: eth1, port: 161, community: public, direction: out,
                  interval: 5, stale_after: 15, timeout: 1, retries: 1}
  - id: ams
    region: eu-west
    jurisdiction: EU
    next_hop: 10.255.0.2
    next_hop6: fd00:255::2
    gateway6: fd00:250::12
    probe: {type: http, targets: [10.99.2.10], port: 8080, http_path: /healthz, netns: vpn-ams, window: 300}
    health: {dampening: false}
    capacity_mbps: 1000
    tunnel: {type: wireguard, device: wg-ams, peer: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", netns: vpn-ams,
             interval: 0.5, reject_after: 180, key_max_age: 600}
    utilization: {type: netlink, device: wg-ams, netns: vpn-ams}
  - {id: lon, region: uk, jurisdiction: UK, next_hop: 10.255.0.3, capacity_mbps: 200,
     utilization: {type: snmp, host: 10.252.2.2, if_index: 3}}
cloud_peers:
  - {name: aws, address: 10.250.1.2, local_address: 10.250.1.1, asn: 64512, egress: fra, provider: aws,
     region: eu-central-1, families: [ipv4, ipv6], password: secret, max_prefix: {limit: 5000, action: teardown},
     description: AWS TGW}
  - {name: gcp, address: 10.250.2.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4, families: ipv4,
     cloud: gcp-europe, max_routes: 200, hold_time: 60}
  - {name: colo, address: 10.250.3.2, asn: 65010, egress: ams, provider: colo, region: fra1, ttl_security: true}
site: {prefixes: [10.100.0.0/16, 10.101.0.0/16], preferred_med: 100, backup_med: 200, prepend: 3, split: true,
       communities: ["65000:10", no-export], clouds: [gcp-europe],
       learn: {prefix: site-nets, from: [core1], community: site-tag, max: 50, hold: 120}}
core_routers:
  - {name: core1, address: 10.250.0.2, local_address: 10.250.0.1, asn: 65000, families: [ipv4, ipv6], password: secret,
     monitor: {cli: frr, command: "vtysh -c 'show bgp ipv4 unicast json'", netns: core, interval: 10, window: 10,
               bmp: {listen: 10.250.0.1, port: 11019, resync_interval: 60, allow: [10.250.0.2]}}}
  - {name: core1-realtime, address: 10.250.8.2, asn: 65000, class: realtime, ttl_security: 2}
classes:
  - name: realtime
    sla: {latency_ms: 40, loss_pct: 2, jitter_ms: 15}
    objective: performance
    slack_pct: 20
    slack_ms: 5
    rise: 3
    fall: 3
    hold_down: 10
    fail_static: true
    match: {dscp: [46], protocol: udp, ports: ["16384-32767"], prefixes: eu}
  - {name: bulk, sla: {latency_ms: 300}, objective: cost}
compliance:
  - {name: gdpr, prefixes: eu, jurisdictions: [EU]}
  - {name: gdpr-too, prefixes: eu, jurisdictions: EU}
steering: {fail_static: true, max_down: 1, cost_tiebreak: true, multipath: {prefixes: eu, weights: equal},
           relief: {threshold_pct: 85, release_pct: 70, hold: 60, max_moves: 50,
             flows: {listen: 10.0.0.1, port: 2055, window: 10, interval: 1, max_datagrams: 2000,
                     exporters: [{address: 10.0.0.2, sampling: 100}]}},
           reason_communities: false,
           move_budget: {moves: 2, interval: 300}}
sets:
  prefix:
    eu: ["10.10.8.0/21 le 24"]
    site-nets: ["10.100.0.0/14 le 24"]
  community:
    gshut: ["graceful-shutdown"]
    site-tag: ["65000:500"]
    tags: ["65000:100"]
  large_community:
    steered: ["65000:1:0"]
policy:
  import:
    default: accept
    statements:
      - name: all-matches
        match: {prefix: eu, prefix_length: {min: 8, max: 24}, family: ipv4, peer: aws, egress: fra, provider: aws,
                region: eu-central-1, jurisdiction: EU, egress_region: eu-central, community: gshut,
                large_community: steered, as_path_regex: "^64512_",
                as_path_contains: [64512], as_path_length: {min: 1, max: 5}, origin: igp}
        set: {local_pref: 200, med: 10, community: {add: ["65000:100"], remove: [gshut]},
              large_community: {replace: ["65000:1:1"]}, as_path_prepend: 2, next_hop: egress}
        then: accept
      - name: other-shapes
        match: {prefix: {set: eu, match: invert}, community: {set: gshut, match: all},
                large_community: {set: steered, match: any}, peer: [aws, gcp], as_path_contains: 64512,
                origin: [igp, egp]}
        set: {med: "+5", community: {replace: ["65000:1"]}, large_community: {add: ["65000:1:2"], remove: [steered]},
              as_path_prepend: {asn: 65000, count: 1}, next_hop: 10.255.0.1}
        then: accept
      - {name: drop, match: {family: ipv6}, then: reject}
  export:
    default: accept
    statements:
      - {name: tag, match: {egress: fra}, set: {community: {add: ["65000:100"]}}, then: accept}
  return:
    default: accept
    statements:
      - {name: tag-gcp, match: {provider: gcp}, set: {med: "+10", community: {add: ["65000:200"]}}, then: accept}
"""

# where each section's model dataclass is (its defaults become the schema's)
MODELS: dict[str, type] = {
    "agent": model.AgentSettings,
    "safety": model.Safety,
    "egresses[]": model.Egress,
    "egresses[].probe": model.Probe,
    "egresses[].health": model.Health,
    "egresses[].health.dampening": model.Dampening,
    "egresses[].tunnel": model.Tunnel,
    "egresses[].utilization": model.Utilization,
    "cloud_peers[]": model.CloudPeer,
    "core_routers[]": model.CoreRouter,
    "core_routers[].monitor": model.CoreMonitor,
    "core_routers[].monitor.bmp": model.BmpStation,
    "steering": model.Steering,
    "site": model.Site,
}
# policies/README.md section headings -> config path
DOC_SECTIONS = {
    "## agent": "agent",
    "## safety": "safety",
    "## egresses": "egresses[]",
    "### egresses[].probe": "egresses[].probe",
    "### egresses[].health": "egresses[].health",
    "### egresses[].tunnel": "egresses[].tunnel",
    "### egresses[].utilization": "egresses[].utilization",
    "## compliance": "compliance[]",
    "## classes": "classes[]",
    "## steering": "steering",
    "## site": "site",
    "## cloud_peers": "cloud_peers[]",
    "## core_routers": "core_routers[]",
    "### core_routers[].monitor": "core_routers[].monitor",
    "### core_routers[].monitor.bmp": "core_routers[].monitor.bmp",
    "## sets": "sets",
    "### match keys": "policy.import.statements[].match",
    "### set keys": "policy.import.statements[].set",
}
README = Path(__file__).resolve().parents[2] / "policies" / "README.md"


def record(text: str = SOURCE) -> Recorder:
    """Run the loader over a config with a recorder attached: every shape it accepts at every key path."""
    rec = Recorder()
    issues = Issues("schema-source.yaml", recorder=rec)
    loader.parse_with(text, issues)
    # import, export and return statements are one language: what one accepts, all accept (the loader refuses
    # the set keys a return policy cannot use, with why)
    for path in [p for p in rec.shapes if p.startswith(ALIASES)]:
        for shape in rec.shapes.pop(path):
            rec.add(_canonical(path), shape)
    return rec


IMPORT, ALIASES = "policy.import.", ("policy.export.", "policy.return.")


def _canonical(path: str) -> str:
    for alias in ALIASES:
        if path.startswith(alias):
            return IMPORT + path[len(alias) :]
    return path


def _descriptions() -> dict[str, str]:
    """Config path -> the meaning column of policies/README.md's tables (empty when the docs are not installed)."""
    if not README.exists():
        return {}
    out: dict[str, str] = {}
    section = None
    for line in README.read_text().splitlines():
        if line.startswith("#"):
            section = next((p for h, p in DOC_SECTIONS.items() if line == h or line.startswith(h + " ")), None)
        elif section is not None and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            key = cells[0].strip("`").split("`")[0].split(".")[-1]
            if re.fullmatch(r"[a-z_0-9]+", key):
                out[f"{section}.{key}" if section else key] = cells[-1]
    return out


def _default(path: str, key: str) -> Any:
    cls = MODELS.get(path)
    if cls is None:
        return dataclasses.MISSING
    fields = {f.name: f for f in dataclasses.fields(cls)}
    f = fields.get(key)
    if f is None or f.default is dataclasses.MISSING or f.default is None:
        return dataclasses.MISSING
    return f.default if isinstance(f.default, (bool, int, float, str)) else dataclasses.MISSING


def build(rec: Recorder | None = None) -> dict[str, Any]:
    rec = rec or record()
    docs = _descriptions()

    def child(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def node(path: str) -> dict[str, Any]:
        alternatives: list[dict[str, Any]] = []
        for shape in rec.shapes.get(_canonical(path), []):
            if "mapping" in shape:
                known = shape["mapping"]
                if known is None:  # names chosen by the user (set names): every value has one shape
                    prefix = path + "."
                    kids = sorted(
                        {p[len(prefix) :].split(".")[0].split("[")[0] for p in rec.shapes if p.startswith(prefix)}
                    )
                    values = [node(child(path, k)) for k in kids]
                    alternatives.append({"type": "object", "additionalProperties": _any_of(values) if values else {}})
                    continue
                props: dict[str, Any] = {}
                for key in known:
                    sub = dict(node(child(path, key)))
                    if (d := _default(path, key)) is not dataclasses.MISSING:
                        sub["default"] = d
                    if (text := docs.get(_canonical(child(path, key)))) is not None:
                        sub["description"] = text
                    props[key] = sub
                alternatives.append(
                    {
                        "type": "object",
                        "properties": props,
                        "additionalProperties": False,
                        **({"required": [k for k, r in known.items() if r]} if any(known.values()) else {}),
                    }
                )
            elif "array" in shape:
                items = node(path + "[]")
                alternatives.append({"type": "array", "items": items})
                if shape["array"]:  # a lone value counts as a list of one
                    alternatives.append(items)
            else:
                alternatives.append(dict(shape))
        return _any_of(alternatives)

    schema = node("")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://bgpsteer.example/config.schema.json",
        "title": "bgpsteer configuration",
        **schema,
    }


def _any_of(alternatives: list[dict[str, Any]]) -> dict[str, Any]:
    unique: list[dict[str, Any]] = []
    for a in alternatives:
        if a not in unique:
            unique.append(a)
    if not unique:
        return {}
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def unreached(rec: Recorder | None = None) -> list[str]:
    """Keys the loader knows that SOURCE does not use (their schema would be empty): must be none."""
    rec = rec or record()
    out = []
    for path, shapes in rec.shapes.items():
        for shape in shapes:
            for key in shape.get("mapping") or {}:
                if _canonical(f"{path}.{key}" if path else key) not in rec.shapes:
                    out.append(f"{path}.{key}" if path else key)
    return sorted(set(out))
