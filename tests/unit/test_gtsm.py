"""TTL security (GTSM, RFC 5082) on core and cloud sessions: the config, what is refused and why, and the ExaBGP
configuration it renders (ExaBGP 5.0.15's own parser is the oracle)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.exabgp.render import render
from lab.textedit import named, yaml_edited
from tests.unit.returnpath_world import CONFIG


def with_gtsm(peer: str, value: Any, provider: str | None = None) -> str:
    def edit(d: dict[str, Any]) -> None:
        p = named(d["cloud_peers"] + d["core_routers"], peer, key="name")
        p["ttl_security"] = value
        if provider is not None:
            p["provider"] = provider

    return yaml_edited(CONFIG, edit)


def test_hops_render_as_the_minimum_ttl_and_exabgp_accepts_it(tmp_path: Path) -> None:
    from exabgp.configuration.configuration import Configuration
    from exabgp.logger import log as exalog

    exalog.disable()
    text = yaml_edited(with_gtsm("core1", True), lambda d: d["cloud_peers"][0].update(provider="colo"))
    text = yaml_edited(text, lambda d: d["cloud_peers"][0].update(ttl_security=3))
    cfg = parse(text, "t.yaml")
    assert (cfg.core_routers[0].ttl_security, cfg.cloud_peers[0].ttl_security) == (1, 3)
    rendered = render(cfg, "t.yaml", f"{sys.executable} -m bgpsteer run --config t.yaml")
    blocks = {b.split("{", 1)[0].split()[-1]: b for b in rendered.split("neighbor ")[1:]}
    assert "incoming-ttl 255;" in blocks["10.0.0.2"]  # the core: one hop
    assert "incoming-ttl 253;" in blocks["10.1.0.2"]  # three hops
    assert "incoming-ttl" not in blocks["10.2.0.2"]
    path = tmp_path / "exabgp.conf"
    path.write_text(rendered)
    conf = Configuration([str(path)])
    assert conf.reload(), conf.error


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp", "alibaba"])
def test_it_is_refused_towards_a_cloud_that_does_not_document_it(provider: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(with_gtsm("aws-fra", True, provider), "t.yaml")
    (issue,) = err.value.issues
    assert issue.path == "cloud_peers[0].ttl_security"
    assert f"{provider} does not document TTL security" in issue.message


@pytest.mark.parametrize(("value", "words"), [(0, "out of range 1..254"), (255, "out of range"), ("x", "integer")])
def test_out_of_range_hops_are_errors(value: Any, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(with_gtsm("core1", value), "t.yaml")
    assert words in str(err.value)
    assert "core_routers[0].ttl_security" in str(err.value)


def test_false_is_off() -> None:
    assert parse(with_gtsm("core1", False), "t.yaml").core_routers[0].ttl_security is None
