"""The FakeExaBGP tier's small world: a core router, two cloud peers behind two egresses, and their configs."""

from __future__ import annotations

CORE = "10.250.0.2"
AWS, GCP = "10.250.1.2", "10.250.2.2"
CONFIG = """
agent: {local_asn: 65000, router_id: 10.250.0.1, state_dir: /tmp/bgpsteer-fake}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1}
  - {id: ams, region: eu-west, jurisdiction: EU, cost_per_gb: 0.01, next_hop: 10.255.0.2}
cloud_peers:
  - {name: aws, address: 10.250.1.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
  - {name: gcp, address: 10.250.2.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}
core_routers:
  - {name: core1, address: 10.250.0.2, asn: 65000}
policy:
  import: {default: accept}
  export: {default: accept}
"""
SIX = [f"44.0.{i}.0/24" for i in range(6)]


# with probes pushed from outside (external) and a state_dir of the test's own: what a restart must keep
PERSIST_CONFIG = """
agent: {{local_asn: 65000, router_id: 10.250.0.1, state_dir: {state}}}
egresses:
  - {{id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1,
      probe: {{type: external, targets: [t], interval: 1}}, health: {{rise: 2, fall: 2, hold_down: 30}}}}
  - {{id: ams, region: eu-west, jurisdiction: EU, cost_per_gb: 0.01, next_hop: 10.255.0.2,
      probe: {{type: external, targets: [t], interval: 1}}, health: {{rise: 2, fall: 2, hold_down: 30}}}}
cloud_peers:
  - {{name: aws, address: 10.250.1.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}}
  - {{name: gcp, address: 10.250.2.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}}
core_routers:
  - {{name: core1, address: 10.250.0.2, asn: 65000}}
policy:
  import: {{default: accept}}
  export: {{default: accept}}
"""
