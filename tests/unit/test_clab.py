"""The containerlab topology (lab/bgpsteer.clab.yml) is valid against containerlab's published schema, every link
endpoint is a node's interface, every bound file exists, and the netns runner (lab/clab.py) reads the same nodes,
links and configs as the Python lab renders; a bad topology gets every problem at once."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from lab.clab import ClabError, load
from lab.topology import AWS_ROUTES, FRR, GCP_ROUTES, LAB_CONFIG, bird_config

LAB = Path(__file__).resolve().parents[2] / "lab"
TOPOLOGIES = sorted(LAB.glob("*.clab.yml"))
# The schema's patterns are ECMA-262 regexes; one class, [\p{N}\p{L}] (a letter or a number), has no spelling in
# Python's re, which jsonschema uses: [^\W_] (a word character that is not "_") means the same.
SCHEMA = json.loads((LAB / "containerlab" / "clab.schema.json").read_text().replace("[\\\\p{N}\\\\p{L}]", "[^\\\\W_]"))


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
        assert node.daemon != "none", node.name  # every node is something the runner plays


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
        "runs only ip and sysctl commands",
        "no node 'nowhere'",
        "endpoint core:eth1 is used by another link",
    ):
        assert needle in text, text
