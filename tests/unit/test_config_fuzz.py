"""No input file makes `check` (or `run`, `reload`, SIGHUP: the same loader) raise anything but a positioned
ConfigError: policies/example.yaml mutated by deleted, duplicated and swapped lines, hostile values and tags, and
random bytes.  `check`'s verdict is the loader's verdict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgpsteer.cli import main
from bgpsteer.config.loader import ConfigError, parse

TAGS = ["!x ", "!!str ", "!!int ", "!!float ", "!!map ", "!!seq ", "!!null "]
EXAMPLE = (Path(__file__).resolve().parents[2] / "policies/example.yaml").read_text()
LINES = EXAMPLE.splitlines()
HOSTILE = [
    ".nan",
    ".inf",
    "-.inf",
    "!!int abc",
    "!!timestamp 'x'",
    "!custom x",
    "!!python/name:os.system",
    "*nowhere",
    "&a x",
    "<<: *a",
    "[",
    "{",
    "}",
    "'",
    '"',
    "~",
    "null",
    "true",
    "-1",
    "4294967296",
    "1e400",
    "0x1F",
    "0o17",
    "2026-11-27",
    "!!binary aGVsbG8=",
    "{<<: 1}",
    "[1, [2, [3]]]",
    "\t",
    "é",
    "\u202e",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "? complex\n: key",
]
POSITION = re.compile(r"^[^:]+:\d+:\d+: ")


def _value_swap(lines: list[str], i: int, j: int) -> list[str]:
    out = list(lines)
    a, b = out[i].partition(":"), out[j].partition(":")
    if a[1] and b[1]:
        out[i], out[j] = a[0] + ":" + b[2], b[0] + ":" + a[2]
    return out


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "hostile", "tag", "bytes"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            lines = _value_swap(lines, i, draw(st.integers(0, len(lines) - 1)))
        elif kind == "hostile":
            key, sep, _ = lines[i].partition(":")
            lines[i] = key + sep + " " + draw(st.sampled_from(HOSTILE)) if sep else draw(st.sampled_from(HOSTILE))
        elif kind == "tag":
            key, sep, rest = lines[i].partition(": ")
            lines[i] = f"{key}{sep}{draw(st.sampled_from(TAGS))}{rest}"
        else:
            raw = draw(st.binary(min_size=1, max_size=12))
            lines[i] = (
                lines[i][: len(lines[i]) // 2] + raw.decode("utf-8", errors="replace") + lines[i][len(lines[i]) // 2 :]
            )
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_no_mutation_of_the_example_makes_the_loader_raise(text: str) -> None:
    try:
        parse(text, "example.yaml")
    except ConfigError as exc:
        issues = exc.issues
    else:
        return  # a mutation may leave a valid config
    assert issues
    assert all(POSITION.match(str(i)) for i in issues), [str(i) for i in issues]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(mutated())
def test_check_agrees_with_the_loader(tmp_path: Path, text: str) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        parse(text, str(path))
        loads = True
    except ConfigError:
        loads = False
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert (result.exit_code == 0) == loads, result.output


def test_merge_keys_are_supported_and_written_keys_win() -> None:
    text = EXAMPLE.replace(
        "egresses:\n", "x-probe: &icmp {type: icmp, targets: [10.99.1.10], interval: 0.5}\negresses:\n", 1
    )
    text = text.replace(
        "    probe:                    # measured through fra's own tunnel\n      type: icmp\n",
        "    probe:                    # measured through fra's own tunnel\n      <<: *icmp\n      type: icmp\n",
        1,
    )
    # x-probe is not a config key: the anchor lives under a key bgpsteer does not know, so that is the one error
    with pytest.raises(ConfigError) as refused:  # an unknown top-level key must be reported
        parse(text, "example.yaml")
    assert [i.path for i in refused.value.issues] == ["x-probe"]
    base = (
        "egresses:\n  - &fra {id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1}\n"
        "  - {<<: *fra, id: ams, next_hop: 10.255.0.2}\n"
    )
    text = (
        "agent: {local_asn: 65000, router_id: 10.0.0.1}\n"
        + base
        + (
            "cloud_peers: [{name: aws, address: 10.1.0.2, asn: 64512, egress: ams, provider: aws, region: r}]\n"
            "core_routers: [{name: core1, address: 10.0.0.2, asn: 65000}]\n"
            "policy: {import: {default: accept}, export: {default: accept}}\n"
        )
    )
    cfg = parse(text, "merge.yaml")
    ams = cfg.egress("ams")
    assert (ams.region, ams.jurisdiction, ams.next_hop) == ("eu-central", "EU", "10.255.0.2")


def test_tags_and_unreadable_values_are_positioned_errors() -> None:
    for value, message in [
        ("!custom x", "unsupported YAML tag !custom"),
        ("!!int abc", "cannot read 'abc' as !!int"),
        ("!!timestamp 'x'", "cannot read 'x' as !!timestamp"),
        ("!!binary aGVsbG8=", "unsupported YAML tag !!binary"),
    ]:
        text = EXAMPLE.replace("cost_per_gb: 0.02", f"cost_per_gb: {value}", 1)
        with pytest.raises(ConfigError) as refused:
            parse(text, "example.yaml")
        issues = refused.value.issues
        assert any(i.path == "egresses[0].cost_per_gb" and message in i.message for i in issues), [
            str(i) for i in issues
        ]


def test_an_egress_with_a_bad_field_is_the_only_error_reported() -> None:
    text = EXAMPLE.replace("cost_per_gb: 0.02", "cost_per_gb: cheap", 1)
    with pytest.raises(ConfigError) as refused:  # cost_per_gb: cheap must be refused
        parse(text, "example.yaml")
    assert [i.path for i in refused.value.issues] == ["egresses[0].cost_per_gb"], [str(i) for i in refused.value.issues]
