"""The containerlab topology (lab/bgpsteer.clab.yml) is valid against containerlab's published schema, every link
endpoint is a node's interface, every bound file exists, and the netns runner (lab/clab.py) reads the same nodes,
links and configs as the Python lab renders; a bad topology gets every problem at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab.clab import ClabError, load
from lab.dataplane import CLOUD_ROUTES, CORE_DEFAULT_SESSION, COUNTERS, DATAPLANE_CONFIG
from lab.returnlab import clab_files
from lab.scenario_packets import bird_best
from lab.textedit import replaced
from lab.topology import AWS_ROUTES, FRR, GCP_ROUTES, LAB_CONFIG, bird_config
from tests.unit.helpers import CLAB_SCHEMA as SCHEMA

LAB = Path(__file__).resolve().parents[2] / "lab"
TOPOLOGIES = sorted(LAB.glob("*.clab.yml"))
# The schema's patterns are ECMA-262 regexes; one class, [\p{N}\p{L}] (a letter or a number), has no spelling in
# Python's re, which jsonschema uses: [^\W_] (a word character that is not "_") means the same.


def test_there_is_a_topology() -> None:
    assert LAB / "bgpsteer.clab.yml" in TOPOLOGIES


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_valid_against_containerlabs_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA)


def test_the_schema_catches_a_wrong_file() -> None:  # the oracle is not vacuous
    doc = yaml.safe_load((LAB / "bgpsteer.clab.yml").read_text())
    doc["topology"]["nodes"]["rs"]["kind"] = "no-such-kind"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.name)
def test_the_runner_reads_what_the_file_says(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    topo = load(path)
    assert set(topo.nodes) == set(doc["topology"]["nodes"])
    assert [[str(link.a), str(link.b)] for link in topo.links] == [
        spec["endpoints"] for spec in doc["topology"]["links"]
    ]
    for link, spec in zip(topo.links, doc["topology"]["links"], strict=True):
        assert [a for a in link.ipv4 if a] == spec.get("ipv4", [])
    for node in topo.nodes.values():
        assert all(p.exists() for p in node.binds.values()), node.name
        assert node.daemon != "none" or node.role in ("host", "egress-router"), node.name


def test_the_bound_configs_are_the_python_labs() -> None:
    topo = load(LAB / "bgpsteer.clab.yml")
    configs = {name: n.config for name, n in topo.nodes.items()}
    assert configs["rs"] == LAB_CONFIG
    assert configs["core"] is not None
    assert configs["core"].read_text() == FRR
    for name, asn, routes in (("aws", 64512, AWS_ROUTES), ("gcp", 16550, GCP_ROUTES)):
        path = configs[name]
        assert path is not None
        n = "1" if name == "aws" else "2"
        body = path.read_text().split("\n", 1)[1]  # after the comment line
        assert body == bird_config(f"10.250.{n}.2", asn, f"10.250.{n}.2", f"10.250.{n}.1", routes).lstrip("\n")


def test_the_return_path_topology_binds_what_the_return_lab_renders() -> None:
    topo = load(LAB / "returnpath.clab.yml")
    files = clab_files()
    for node, name in (("rs", "bgpsteer.yaml"), ("tgw", "tgw.conf"), ("vnet", "vnet.conf"), ("cr", "cr.conf")):
        conf = topo.nodes[node].config
        assert conf is not None
        assert conf.read_text() == files[name], (
            f"{name}: python -c 'from lab.returnlab import write_clab; write_clab()'"
        )
    core = topo.nodes["core"].config
    assert core is not None
    assert core.read_text() == FRR


def test_a_bad_topology_gets_every_problem_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "bad.clab.yml"
    bad.write_text(
        "name: bad\ntopology:\n  nodes:\n"
        "    core: {kind: linux, image: quay.io/frrouting/frr:8.4.1, binds: [missing.conf:/etc/frr/frr.conf]}\n"
        "    x: {kind: linux, image: alpine, exec: ['rm -rf /tmp/x']}\n"
        "  links:\n"
        "    - endpoints: [core:eth1, nowhere:eth1]\n"
        "    - endpoints: [core:eth1, x:eth1]\n"
    )
    with pytest.raises(ClabError) as err:
        load(bad)
    text = str(err.value)
    for needle in (
        "bound file missing.conf does not exist",
        "runs only ip, sysctl, nft commands",
        "no node 'nowhere'",
        "endpoint core:eth1 is used by another link",
    ):
        assert needle in text, text


def test_the_data_plane_topology_binds_what_bgpsteer_renders(tmp_path: Path) -> None:
    """lab/dataplane.clab.yml's core files are exactly `bgpsteer core-config` of its bound config, and that config
    is lab/dataplane.yaml with ICMP probes (the topology runs no UDP reflectors)."""
    topo = load(LAB / "dataplane.clab.yml")
    rs = topo.nodes["rs"].config
    assert rs is not None
    body = rs.read_text().split("agent:\n", 1)[1]
    want = replaced(
        DATAPLANE_CONFIG.read_text().split("agent:\n", 1)[1], ("probe: {type: udp, port: 7,", "probe: {type: icmp,")
    )
    assert body == want
    source = str(rs.relative_to(LAB.parent))
    subprocess.run(
        [sys.executable, "-m", "bgpsteer", "core-config", source, "--target", "linux", "-o", str(tmp_path)],
        check=True,
        capture_output=True,
        cwd=LAB.parent,  # the rendering names its source as given: relative, as in the committed files
    )
    core = topo.nodes["core"]
    assert (
        core.binds["/etc/bird/bird.conf"].read_text()
        == (tmp_path / "bird-classes.conf").read_text() + CORE_DEFAULT_SESSION
    )
    assert core.binds["/etc/bgpsteer/classes.nft"].read_text() == (tmp_path / "classes.nft").read_text()
    rules = [line.split("#")[0].strip() for line in (tmp_path / "ip-rules.sh").read_text().splitlines()]
    assert [r for r in rules if " rule add " in r] == [e for e in core.exec if " rule add " in e]
    for router in ("efra", "elon"):
        assert topo.nodes[router].binds["/etc/lab/counters.nft"].read_text() == COUNTERS
    for name, rid, asn, peer in (
        ("aws", "10.250.1.2", 64512, "10.250.1.1"),
        ("gcp", "10.250.2.2", 16550, "10.250.2.1"),
    ):
        conf = topo.nodes[name].config
        assert conf is not None
        assert conf.read_text() == bird_config(rid, asn, rid, peer, CLOUD_ROUTES)


BIRD_ROUTES = """Table master4:
10.252.2.0/30        unicast [lab_direct 16:50:34.061] * (240)
\tdev elon
10.10.0.0/16         unicast [bgpsteer_default 16:50:36.275 from 10.250.0.1] * (100/?) [AS64512i]
\tvia 10.252.1.2 on efra
\tType: BGP univ
\tBGP.next_hop: 10.255.0.1
                     unicast [bgpsteer_default 16:50:36.276 from 10.250.0.1] (100/?) [AS16550i]
\tvia 10.252.2.2 on elon
\tBGP.next_hop: 10.255.0.2
10.10.8.0/24         unreachable [bgpsteer_default 16:51:02.001 from 10.250.0.1] * (100/-) [AS64512i]
\tType: BGP univ
\tBGP.next_hop: 10.255.0.1
"""


def test_birds_primary_routes_are_read_with_their_bgp_next_hop() -> None:
    # the second path of 10.10.0.0/16 is not primary; an unreachable primary is no usable path; direct routes
    # (no BGP next hop) are not steered prefixes
    assert bird_best(BIRD_ROUTES) == {"10.10.0.0/16": "10.255.0.1", "10.10.8.0/24": None}
