"""TCP-MD5 (RFC 2385) on the core session with real daemons: which passwords work, and how a mismatch shows.

bgpsteer renders every password base64-encoded (md5-base64), so ExaBGP uses the exact bytes; FRR 8.4 takes
a password as one word of its configuration (no spaces).  A mismatch is logged by neither FRR nor the
kernel: the evidence is the kernel's TcpExtTCPMD5Failure counter in the namespace that drops the segments.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from lab.netlab import LabError, lab, sh, wait_for
from lab.topology import build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("nstat")


@pytest.mark.parametrize("password", ["s3cret", 'q"uo\\te', "it's"])
def test_md5_session_with_any_one_word_password(password: str) -> None:
    with lab() as lb:
        t = build(lb, core_password=password)
        wait_for("steered routes on the core", lambda: len(t.steered()) == 5, timeout=60)


def md5_failures(ns: str) -> int:
    out = sh("nstat", "-az", "TcpExtTCPMD5Failure", ns=ns)
    return sum(int(line.split()[1]) for line in out.splitlines() if line.startswith("TcpExtTCPMD5Failure"))


def test_a_password_mismatch_shows_only_in_the_kernels_counter() -> None:
    with lab() as lb:
        with pytest.raises(LabError):  # the session never comes up (15 s: ExaBGP tries again every few seconds)
            build(lb, core_password="right", bgpsteer_password="wrong", session_timeout=15)
        assert md5_failures(lb.ns("core")) > 0 or md5_failures(lb.ns("rs")) > 0
        # bgpsteer status shows the route server's side of it (the kernel's counter in its namespace)
        sock = str(lb.path("state") / "control.sock")

        def status() -> dict[str, Any] | None:
            p = subprocess.run(
                [sys.executable, "-m", "bgpsteer", "status", "--json", "--socket", sock],
                capture_output=True,
                text=True,
                timeout=30,
            )
            return dict(json.loads(p.stdout)) if p.returncode == 0 else None

        s = wait_for("the agent's status", status, timeout=30)
        shown = s["runtime"]["tcp_md5_drops"]["failure"]
        # ExaBGP does not listen here (it connects): segments with its wrong signature are dropped by the core, so
        # the route server's own counter stays as the kernel has it, and status says just that
        assert shown <= md5_failures(lb.ns("rs"))  # the counter only grows: read after the status
        assert md5_failures(lb.ns("core")) > 0
