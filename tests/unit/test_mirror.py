"""lab/mirror.py turns a user's config into a lab: a containerlab topology valid against containerlab's schema that
the netns runner accepts, a lab copy of the config that bgpsteer accepts, scenarios that parse; gateways announce
prefixes drawn from the config's sets plus hostile ones; peers on no common subnet get point-to-point addresses."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from bgpsteer.config.loader import load as load_config
from lab.clab import load as load_topology
from lab.mirror import HOSTILE_BOGON, generate
from lab.scenario import parse
from lab.textedit import named, yaml_edited
from tests.unit.helpers import CLAB_SCHEMA as SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_policy_mirrors_into_a_valid_lab(tmp_path: Path) -> None:
    topo_path, changes = generate(ROOT / "policies" / "example.yaml", tmp_path)
    jsonschema.validate(yaml.safe_load(topo_path.read_text()), SCHEMA)
    topo = load_topology(topo_path)
    assert {n.role for n in topo.nodes.values()} == {"route-server", "core", "cloud-gateway"}
    assert len(topo.by_daemon("bird")) == 2  # one gateway per cloud peer
    cfg = load_config(tmp_path / "bgpsteer.yaml")
    assert {p.name for p in cfg.cloud_peers} == {"aws-tgw-fra", "gcp-cr-ams"}
    assert all(e.gateway == "self" and e.probe is not None and e.probe.kind == "icmp" for e in cfg.egresses)
    fra = cfg.egress("fra")
    assert fra.probe is not None
    assert fra.probe.targets == ("10.250.1.2",)  # the emulated gateway of fra
    assert fra.probe.window == 300  # the user's window is kept
    assert any("core1-realtime" in c for c in changes)
    bird = (tmp_path / "clab" / "aws-tgw-fra" / "bird.conf").read_text()
    for prefix in ("10.10.0.0/16", "10.10.8.0/21", "10.20.0.0/24", HOSTILE_BOGON, "10.255.0.0/24", "10.10.0.0/28"):
        assert f"route {prefix} blackhole;" in bird, prefix
    scenarios = [parse(p) for p in sorted((tmp_path / "scenarios").glob("*.yaml"))]
    assert [s.name for s in scenarios] == ["blackhole-ams", "blackhole-fra", "helper-restart"]
    assert all(s.topology == topo_path.resolve() for s in scenarios)


def test_peers_on_no_common_subnet_get_point_to_point_addresses(tmp_path: Path) -> None:
    text = (ROOT / "lab" / "lab.yaml").read_text()
    text = yaml_edited(
        text,
        lambda doc: named(doc["cloud_peers"], "aws-tgw-fra", "name").update(
            address="169.254.10.2", local_address="100.64.1.1"
        ),
    )
    (tmp_path / "in.yaml").write_text(text)
    topo_path, _ = generate(tmp_path / "in.yaml", tmp_path / "out")
    doc = yaml.safe_load(topo_path.read_text())
    link = next(link for link in doc["topology"]["links"] if "aws-tgw-fra:eth1" in link["endpoints"])
    assert "ipv4" not in link  # the addresses come from exec: ip addr add A peer B
    rs_if = link["endpoints"][0].split(":")[1]
    assert f"ip addr add 100.64.1.1/32 peer 169.254.10.2/32 dev {rs_if}" in doc["topology"]["nodes"]["rs"]["exec"]
    assert doc["topology"]["nodes"]["aws-tgw-fra"]["exec"] == [
        "ip addr add 169.254.10.2/32 peer 100.64.1.1/32 dev eth1"
    ]
    load_topology(topo_path)  # the runner accepts the exec lines
