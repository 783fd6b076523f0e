"""The shipped systemd unit passes systemd's own checker (systemd-analyze verify), with its paths pointed at
this checkout's virtual environment (the checker requires the executables to exist)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/systemd/bgpsteer.service"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: .ci/install installs the systemd package"
    bindir = str(Path(sys.executable).parent)
    env = tmp_path / "exabgp.env"
    env.write_text("exabgp_api_ack=true\n")
    text = UNIT.read_text().replace("/opt/bgpsteer/bin", bindir).replace("/etc/bgpsteer/exabgp.env", str(env))
    unit = tmp_path / "bgpsteer.service"
    unit.write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "bgpsteer.service" in line]
    assert result.returncode == 0, result.stdout + result.stderr
    assert not problems, result.stdout + result.stderr
    for word in (
        "ExecReload=",
        "bgpsteer reload",
        "AmbientCapabilities=CAP_NET_RAW",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "StateDirectory=bgpsteer",
        "User=bgpsteer",
    ):
        assert word in text
