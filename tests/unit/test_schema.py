"""The JSON Schema is the loader's own definition (recorded while it reads a config that uses every key): it
accepts every config bgpsteer accepts here, refuses unknown keys and wrong types, and the shipped copy is current."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bgpsteer.config import schema
from bgpsteer.config.loader import parse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    built = schema.build()
    jsonschema.Draft202012Validator.check_schema(built)
    return jsonschema.Draft202012Validator(built)


def test_the_source_config_reaches_every_key_the_loader_knows() -> None:
    assert schema.unreached() == []
    parse(schema.SOURCE, "schema-source.yaml")  # and is itself a valid config


def test_the_shipped_schema_is_current() -> None:
    assert json.loads((ROOT / "policies/bgpsteer.schema.json").read_text()) == schema.build(), (
        "run: bgpsteer schema -o policies/bgpsteer.schema.json"
    )


def _configs() -> list[Path]:
    return [ROOT / "policies/example.yaml", ROOT / "lab/lab.yaml"]


@pytest.mark.parametrize("path", _configs(), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors, errors


def test_configs_the_tests_load_are_valid(validator: jsonschema.Draft202012Validator) -> None:
    from tests.fake.world import CONFIG as PIPE
    from tests.unit.helpers import ACCEPT_ALL, BASE

    for text in (schema.SOURCE, PIPE, BASE + ACCEPT_ALL):
        parse(text, "t.yaml")
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(text))]
        assert not errors, errors


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c["agent"].update(hold_tme=90), "hold_tme"),  # unknown key (a typo)
        (lambda c: c["agent"].update(hold_time="ninety"), "ninety"),  # wrong type
        (lambda c: c["agent"].update(hold_time=70000), "70000"),  # out of range
        (lambda c: c["egresses"][0].update(cost_per_gb="cheap"), "cheap"),
        (lambda c: c["agent"].update(log_level="loud"), "loud"),  # not one of the choices
        (lambda c: c["egresses"][0].pop("next_hop"), "next_hop"),  # required
        (lambda c: c["policy"]["import"]["statements"][0].update(then="maybe"), "maybe"),
    ],
)
def test_unknown_keys_and_wrong_types_are_refused_by_both(
    validator: jsonschema.Draft202012Validator, change: Callable[[dict[str, Any]], object], where: str
) -> None:
    from bgpsteer.config.loader import ConfigError

    config = yaml.safe_load((ROOT / "policies/example.yaml").read_text())
    change(config)
    assert list(validator.iter_errors(config)), f"the schema accepts {where}"
    with pytest.raises(ConfigError):
        parse(yaml.safe_dump(config), "changed.yaml")


def test_defaults_and_descriptions_come_from_the_model_and_the_docs() -> None:
    built = schema.build()
    hold = built["properties"]["agent"]["properties"]["hold_time"]
    assert hold["default"] == 90
    assert "hold time" in hold["description"].lower()
    window = built["properties"]["egresses"]["items"]["properties"]["probe"]["properties"]["window"]
    assert window["default"] == 20
    assert window["minimum"] == 1


def test_a_minimal_config_loads_to_the_models_defaults() -> None:
    """The loader's defaults are the model's, section by section: the schema takes its defaults from the model,
    so they cannot drift from what the loader does."""
    from bgpsteer.core.model import AgentSettings, Health, Probe, Safety, Steering

    text = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: r, jurisdiction: EU, next_hop: 10.255.0.1, probe: {type: icmp, targets: [10.99.0.1]}}
cloud_peers: [{name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: r}]
core_routers: [{name: core1, address: 10.0.0.2, asn: 65000}]
policy: {import: {default: accept}, export: {default: accept}}
"""
    cfg = parse(text, "minimal.yaml")
    assert cfg.agent == AgentSettings(65000, "10.0.0.1")
    assert cfg.safety == Safety()
    assert cfg.steering == Steering()
    (egress,) = cfg.egresses
    assert egress.health == Health()
    assert egress.probe == Probe("icmp", ("10.99.0.1",))
    assert egress.cost_per_gb == 0.0
    assert egress.gateway == "self"
    assert egress.gateway6 == "self"


def test_every_other_config_shipped_or_used_by_the_tests_is_valid(validator: jsonschema.Draft202012Validator) -> None:
    from bench.stall import CONFIG as STALL
    from lab.topology import LAB_CONFIG, classes_config, ipv6_config
    from tests.contract.test_hostile_input import CONFIG as HOSTILE
    from tests.fake.world import PERSIST_CONFIG as PERSIST
    from tests.unit.test_control import CONFIG as CONTROL

    lab_text = LAB_CONFIG.read_text()
    for text in (
        STALL.format(state="/tmp/s"),
        PERSIST.format(state="/tmp/s"),
        HOSTILE,
        CONTROL,
        classes_config(lab_text),
        ipv6_config(lab_text),
    ):
        parse(text, "t.yaml")
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(text))]
        assert not errors, errors
