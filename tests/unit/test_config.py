from pathlib import Path

import pytest

from bgpsteer.config.loader import ConfigError, load, parse
from lab.textedit import replaced, yaml_edited

ROOT = Path(__file__).resolve().parents[2]


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse(text, "c.yaml")
    return [str(i) for i in exc.value.issues]


def test_shipped_configs_are_valid() -> None:
    for path in [ROOT / "policies/example.yaml", ROOT / "lab/lab.yaml"]:
        assert load(path).egresses


BROKEN = """\
agent:
  local_asn: 65000
  router_id: 10.0.0.1
  router_id: 10.0.0.9
egresses:
  - {id: fra, region: eu, jurisdiction: EU, next_hop: 10.255.0.300, cost_per_gb: cheap}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egres: fra, provider: aws, region: x}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65001}
sets:
  prefix:
    empty: []
policy:
  import:
    default: maybe
    statements:
      - name: a
        match: {prefix: nope, peer: ghost}
        set: {local_pref: -1}
        then: accept
  export: {default: accept}
"""


def test_all_errors_reported_at_once_with_positions() -> None:
    got = errors(BROKEN)
    expect = [
        "c.yaml:4:3: agent.router_id: duplicate key",
        "c.yaml:6:55: egresses[0].next_hop: invalid IPv4 address",
        "c.yaml:6:82: egresses[0].cost_per_gb: expected a number",
        "c.yaml:8:48: cloud_peers[0].egres: unknown key; did you mean 'egress'?",
        "c.yaml:10:43: core_routers[0].asn: core routers must be iBGP",
        "c.yaml:13:12: sets.prefix.empty: empty set",
        "c.yaml:16:14: policy.import.default: 'maybe' is not one of",
        "c.yaml:19:25: policy.import.statements[0].match.prefix: undefined prefix set 'nope'",
        "c.yaml:19:37: policy.import.statements[0].match.peer: no peer named 'ghost'",
        "c.yaml:20:27: policy.import.statements[0].set.local_pref: -1 is out of range",
    ]
    for e in expect:
        assert any(g.startswith(e) for g in got), (e, got)
    assert any("cloud_peers[0].egress: required key is missing" in g for g in got)


def test_yaml_syntax_error_has_position() -> None:
    (e,) = errors("agent: [1, 2\n")
    assert e.startswith("c.yaml:2:1: YAML syntax error")


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("set: {community: {add: ['1:2'], replace: ['3:4']}}\n        then: accept", "contradictory"),
        ("match: {as_path_length: {min: 5, max: 2}}\n        then: reject", "greater than max"),
        ("match: {as_path_regex: '('}\n        then: reject", "invalid regular expression"),
        ("match: {provider: azure}\n        then: reject", "no provider named 'azure'"),
        ("then: next", "does nothing"),
        ("set: {med: 5}\n        then: reject", "has no use"),
    ],
)
def test_semantic_errors(snippet: str, message: str) -> None:
    from tests.unit.helpers import BASE

    text = (
        BASE
        + f"""
policy:
  import:
    default: accept
    statements:
      - name: s
        {snippet}
  export: {{default: accept}}
"""
    )
    assert any(message in g for g in errors(text)), errors(text)


def test_unreadable_file() -> None:
    with pytest.raises(ConfigError) as exc:
        load("/nonexistent/bgpsteer.yaml")
    assert "cannot read file" in str(exc.value)


def test_shipped_exabgp_config_is_rendered_from_the_example() -> None:
    """exabgp.conf.d must not drift from policies/example.yaml (render again when it changes)."""
    from bgpsteer.exabgp.render import env_text, render

    cfg = load(ROOT / "policies/example.yaml")
    text = render(cfg, "policies/example.yaml", "bgpsteer run --config /etc/bgpsteer/bgpsteer.yaml")
    assert (ROOT / "exabgp.conf.d/exabgp.conf").read_text() == text + "\n"
    assert (ROOT / "exabgp.conf.d/exabgp.env").read_text() == env_text()


def test_rendered_exabgp_config_is_accepted_by_exabgps_own_parser(tmp_path: Path) -> None:
    """ExaBGP 5.0.15's configuration parser is the oracle: graceful restart, manual-eor, add-path, md5 and all."""
    import sys

    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log as exalog

    from bgpsteer.exabgp.render import render

    exalog.disable()
    for graceful in (120, 0):
        text = replaced(
            (ROOT / "policies/example.yaml").read_text(), ("agent:\n", f"agent:\n  graceful_restart: {graceful}\n", 1)
        )
        cfg = parse(text, "example.yaml")
        rendered = render(cfg, "example.yaml", f"{sys.executable} -m bgpsteer run --config example.yaml")
        assert ("manual-eor true;" in rendered) == bool(graceful)
        assert (f"graceful-restart {graceful};" in rendered) == bool(graceful)
        path = tmp_path / f"exabgp-{graceful}.conf"
        path.write_text(rendered)
        conf = Configuration([str(path)])
        assert conf.reload(), conf.error


def test_graceful_restart_must_outlast_the_wait_for_cloud_peers() -> None:
    text = replaced((ROOT / "policies/example.yaml").read_text(), ("agent:\n", "agent:\n  graceful_restart: 30\n", 1))
    with pytest.raises(ConfigError) as exc:
        parse(text, "example.yaml")
    assert "agent.graceful_restart" in str(exc.value)
    assert "longer than 60" in str(exc.value)


def test_the_wait_for_cloud_peers_is_configurable_and_graceful_restart_must_outlast_it() -> None:
    from bgpsteer.runtime.agent import Agent

    example = (ROOT / "policies/example.yaml").read_text()
    cfg = parse(yaml_edited(example, lambda doc: doc["agent"].update(ready_timeout=10, graceful_restart=30)), "e.yaml")
    assert cfg.agent.ready_timeout == 10
    agent = Agent("e.yaml", cfg, lambda b: None, clock=lambda: 0.0)
    agent.start()
    assert agent.reconciler is not None
    assert agent.reconciler.timeout == 10  # reconcile and End-of-RIB wait this long for a silent peer
    with pytest.raises(ConfigError) as exc:
        parse(yaml_edited(example, lambda doc: doc["agent"].update(ready_timeout=300)), "e.yaml")
    assert "graceful_restart must be 0 (off) or longer than 300 s (ready_timeout)" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        parse(yaml_edited(example, lambda doc: doc["agent"].update(ready_timeout=4)), "e.yaml")
    assert "agent.ready_timeout" in str(exc.value)


@pytest.mark.parametrize("password", ['a"b', "a\\bc", "it's", "with space", "ü-ñ", "x" * 80])
def test_every_accepted_password_reaches_exabgp_exactly(tmp_path: Path, password: str) -> None:
    """Rendered as base64 with md5-base64: ExaBGP's own configuration parser reads back the very bytes configured."""
    import base64
    import sys

    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log as exalog

    from bgpsteer.exabgp.render import render

    exalog.disable()
    text = (ROOT / "policies/example.yaml").read_text()
    cfg = parse(text, "example.yaml")
    core = cfg.core_routers[0]
    import dataclasses

    cfg = dataclasses.replace(cfg, core_routers=(dataclasses.replace(core, password=password), *cfg.core_routers[1:]))
    path = tmp_path / "exabgp.conf"
    path.write_text(render(cfg, "example.yaml", f"{sys.executable} -m bgpsteer run --config example.yaml"))
    conf = Configuration([str(path)])
    assert conf.reload(), conf.error
    (neighbor,) = [n for n in conf.neighbors.values() if str(n["peer-address"]) == core.address]
    assert neighbor["md5-base64"] is True
    assert base64.b64decode(neighbor["md5-password"]).decode() == password


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN"])
def test_numbers_must_be_finite(value: str) -> None:
    from tests.unit.helpers import BASE

    text = replaced(BASE, ("cost_per_gb: 0.02", f"cost_per_gb: {value}")) + ACCEPT
    got = errors(text)
    assert any("egresses[0].cost_per_gb: expected a finite number" in e for e in got), got


def test_every_egress_needs_its_own_next_hop() -> None:
    from tests.unit.helpers import BASE

    got = errors(replaced(BASE, ("next_hop: 10.255.0.2,", "next_hop: 10.255.0.1,")) + ACCEPT)
    assert any("egresses[1].next_hop: next-hop 10.255.0.1 is also egress 'fra'" in e for e in got), got


def _exabgp_refuses_next_hop_self(session: str, route_afi: str) -> bool:
    """ExaBGP 5.0.15 is the oracle: does its neighbour refuse 'next-hop self' for this route family on this session?"""
    from exabgp.bgp.neighbor import Neighbor
    from exabgp.protocol.family import AFI
    from exabgp.protocol.ip import IP

    n = Neighbor()
    n["local-address"] = IP.create(session)
    n["router-id"] = IP.create("10.0.0.1")
    try:
        n.ip_self(AFI.ipv6 if route_afi == "ipv6" else AFI.ipv4)
    except TypeError:
        return True
    return False


@pytest.mark.parametrize(
    ("core_address", "family"), [("10.0.0.2", "ipv6"), ("fd00::2", "ipv4"), ("10.0.0.2", "ipv4"), ("fd00::2", "ipv6")]
)
def test_check_refuses_next_hop_self_exactly_where_exabgp_does(core_address: str, family: str) -> None:
    from tests.unit.helpers import BASE

    text = replaced(BASE, (',\n     gateway6: "fd00::11"}', "}"), (',\n     gateway6: "fd00::12"}', "}"))
    text = replaced(
        text,
        (
            "address: 10.0.0.2, asn: 65000, families: [ipv4, ipv6]",
            f'address: "{core_address}", asn: 65000, families: [{family}]',
        ),
    )
    refused = _exabgp_refuses_next_hop_self(core_address, family)
    if refused:
        got = errors(text + ACCEPT)
        assert any("egresses[0].gateway6" in e and "set gateway6 to an IPv6 address" in e for e in got), got
    else:
        assert parse(text + ACCEPT, "c.yaml").egresses


def test_a_next_hop_inside_a_prefix_set_is_a_warning(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bgpsteer.cli import main
    from tests.unit.helpers import BASE

    text = BASE + 'sets:\n  prefix:\n    aws-nets: ["10.255.0.0/16 le 24"]\n' + ACCEPT
    cfg = parse(text, "c.yaml")
    assert len(cfg.warnings) == 2
    assert (
        "next-hop 10.255.0.1 of egress 'fra' lies inside 10.255.0.0/16 le 24 of prefix set 'aws-nets'"
        in cfg.warnings[0]
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0
    assert "2 warning(s)" in result.output
    assert "warning: " in result.output


ACCEPT = """
policy:
  import: {default: accept}
  export: {default: accept}
"""


def test_exabgp_config_output_cannot_lose_the_environment_or_leak_passwords(tmp_path: Path) -> None:
    """Piped: the environment heads the output (as comments ExaBGP's own parser skips); written: a file with a
    password is 0600 from its first byte."""
    import sys

    from click.testing import CliRunner
    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log as exalog

    from bgpsteer.cli import main

    exalog.disable()
    text = replaced(
        (ROOT / "policies/example.yaml").read_text(), ("    asn: 65000\n", "    asn: 65000\n    password: s3cret\n", 1)
    )
    src = tmp_path / "bgpsteer.yaml"
    src.write_text(text)
    command = f"{sys.executable} -m bgpsteer run --config {src}"
    piped = CliRunner().invoke(main, ["exabgp-config", str(src), "--command", command])
    assert piped.exit_code == 0
    assert piped.stdout.startswith("# ExaBGP must run with this environment")
    assert "#   exabgp_api_ack=true" in piped.stdout
    assert "TCP-MD5 passwords" in piped.stderr
    path = tmp_path / "piped.conf"
    path.write_text(piped.stdout)
    conf = Configuration([str(path)])
    assert conf.reload(), conf.error
    out = tmp_path / "out"
    written = CliRunner().invoke(main, ["exabgp-config", str(src), "-o", str(out), "--command", command])
    assert written.exit_code == 0
    assert (out / "exabgp.conf").stat().st_mode & 0o777 == 0o600
    assert "0600" in written.stdout
    plain = CliRunner().invoke(
        main, ["exabgp-config", str(ROOT / "policies/example.yaml"), "-o", str(tmp_path / "plain")]
    )
    assert plain.exit_code == 0
    assert (tmp_path / "plain/exabgp.conf").stat().st_mode & 0o777 == 0o644


def test_documented_defaults_are_the_models() -> None:
    """policies/README.md's default column says what the model (one definition, used by the loader) says."""
    from bgpsteer.core.model import AgentSettings, Probe, default

    text = (ROOT / "policies/README.md").read_text()

    def table(heading: str) -> dict[str, str]:
        section = text.split(heading, 1)[1].split("\n#", 1)[0]
        rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
        return {r[1].strip().strip("`"): r[2].strip() for r in rows}

    checked = 0
    for heading, cls, keys in (
        (
            "## agent",
            AgentSettings,
            ["hold_time", "log_level", "state_dir", "journal_max_bytes", "record_max_bytes", "graceful_restart"],
        ),
        ("### egresses[].probe", Probe, ["interval", "min_up", "window", "http_path"]),
    ):
        rows = table(heading)
        for key in keys:
            assert key in rows, f"{heading}: {key} is not documented"
            assert rows[key].strip("`").split("`")[0] == str(default(cls, key)), (
                f"{heading}: {key}: docs {rows[key]!r}, model {default(cls, key)!r}"
            )
            checked += 1
    assert checked == 10
