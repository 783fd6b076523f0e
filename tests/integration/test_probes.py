"""Every probe kind, and every way a probe can fail, inside a namespace of the test's own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lab.netlab import lab, sh
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()  # in CI a missing tool or no root fails the run, never skips it (needs.py)


def test_probe_kinds_and_failures() -> None:
    with lab() as lb:
        ns = lb.ns("probe")
        other = lb.ns("other")
        out = json.loads(sh(sys.executable, str(Path(__file__).with_name("probe_check.py")), other, ns=ns, timeout=60))
        if not os.path.exists(f"/run/netns/{other}"):
            lb.namespaces.remove(other)  # the script deleted it (else Lab.close() will)
    for kind in ("icmp", "icmp6", "tcp", "udp", "http"):
        ok, reason, rtt = out[kind]
        assert ok, (kind, reason)
        assert rtt is not None, kind
        assert rtt >= 0, kind
    assert out["tcp_refused"][0] is False
    assert "refused" in out["tcp_refused"][1].lower()
    assert out["http_404"][0] is False
    assert out["http_404"][1] == "HTTP: status 404"
    assert out["udp_hang"][0] is False
    assert out["udp_hang"][1] == "timeout after 300 ms"
    assert out["dns"][0] is False
    assert out["dns"][1].startswith("DNS:")
    assert out["device_gone"][0] is False
    assert "bind to the egress path" in out["device_gone"][1]
    assert out["bad_source"][0] is False
    assert "bind to the egress path" in out["bad_source"][1]
    assert out["runner_rounds"] == [2, 2, 2, 2, 2]
    assert out["netns"][0] is True
    assert out["netns_tcp"][0] is True
    assert out["here_tcp"][0] is False
    assert out["netns_gone"] == [False, f"network namespace {other} is gone", None]
