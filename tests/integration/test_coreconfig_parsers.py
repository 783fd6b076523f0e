"""nft and bird themselves accept what `bgpsteer core-config` renders (their parsers are the oracle), for the
example policy, the data-plane lab's config and the golden-file input; `nft -c` checks inside a namespace of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.netlab import lab, sh
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("config", ["policies/example.yaml", "lab/dataplane.yaml", "tests/golden/classes.yaml"])
def test_nft_and_bird_accept_the_rendering(config: str, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "bgpsteer", "core-config", str(ROOT / config), "-o", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    bird = subprocess.run(["bird", "-p", "-c", str(tmp_path / "bird-classes.conf")], capture_output=True, text=True)
    assert bird.returncode == 0, bird.stderr
    with lab() as lb:
        ns = lb.ns("nftcheck")
        sh("nft", "-c", "-f", str(tmp_path / "classes.nft"), ns=ns)  # raises with nft's message if refused
        sh("sh", "-n", str(tmp_path / "ip-rules.sh"), ns=ns)
