"""Capture real ExaBGP JSON lines for the codec contract tests.

Run as root:  python tests/contract/capture.py
It builds a namespace lab (ExaBGP + two BIRD peers, IPv4 and IPv6 sessions),
drives announcements, a withdraw and a session shutdown, and writes what
ExaBGP sent its helper to tests/contract/captures/exabgp-<version>.jsonl.
Every namespace is removed afterwards.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from lab.netlab import lab, wait_for  # noqa: E402

BIRD_TEMPLATE = """
router id {rid};
protocol device {{}}
protocol static s4 {{ ipv4; {routes4} }}
protocol static s6 {{ ipv6; {routes6} }}
filter out_attrs {{
  bgp_med = 50;
  bgp_community.add((64512, 100));
  bgp_community.add((65535, 0));
  bgp_large_community.add((64512, 1, 2));
  accept;
}}
protocol bgp up4 {{
  local {local4} as {asn};
  neighbor {peer4} as 65000;
  ipv4 {{ import all; export filter out_attrs; add paths rx; }};
}}
protocol bgp up6 {{
  local {local6} as {asn};
  neighbor {peer6} as 65000;
  ipv6 {{ import none; export filter out_attrs; }};
}}
"""

EXABGP_CONF = """
process recorder {{
  run {python} {recorder} {out} {commands};
  encoder json;
}}
template {{
  neighbor cloud {{
    router-id 10.250.1.1;
    local-as 65000;
    api {{
      processes [ recorder ];
      neighbor-changes;
      receive {{ parsed; update; notification; refresh; }}
    }}
  }}
}}
neighbor 10.250.1.2 {{
  inherit cloud;
  local-address 10.250.1.1;
  peer-as 64512;
  family {{ ipv4 unicast; }}
  capability {{ add-path send; route-refresh; }}
}}
neighbor fd00:250:1::2 {{
  inherit cloud;
  local-address fd00:250:1::1;
  peer-as 64512;
  family {{ ipv6 unicast; }}
}}
"""


def main() -> None:
    import exabgp.version

    version = exabgp.version.version
    outdir = HERE / "captures"
    outdir.mkdir(exist_ok=True)
    target = outdir / f"exabgp-{version}.jsonl"
    with lab() as lb:
        lb.link("rs", "10.250.1.1/30,fd00:250:1::1/64", "cloud", "10.250.1.2/30,fd00:250:1::2/64")
        raw = lb.path("raw.jsonl")
        raw.touch()
        conf = lb.path("exabgp.conf")
        commands = lb.path("commands.txt")
        # what bgpsteer sends at start and in steady state: the answers and acks are pinned too
        commands.write_text(
            "\n".join(
                [
                    "neighbor 10.250.1.2 announce attributes path-information 1 next-hop 10.250.1.1 origin igp "
                    "local-preference 200 nlri 44.0.1.0/24 44.0.2.0/24",
                    "neighbor 10.250.1.2 announce attributes path-information 258 next-hop 10.250.1.1 origin igp nlri "
                    "44.0.1.0/24",
                    "show neighbor summary",
                    "show adj-rib out extensive",
                    "neighbor 10.250.1.2 announce attributes path-information 1 next-hop 10.250.1.1 origin igp "
                    "local-preference 4294967296 nlri 44.0.3.0/24",
                    "neighbor 10.250.1.2 announce eor ipv4 unicast",
                    "neighbor 10.250.1.2 announce route-refresh ipv4 unicast",
                ]
            )
            + "\n"
        )
        conf.write_text(
            EXABGP_CONF.format(python=sys.executable, recorder=HERE / "recorder.py", out=raw, commands=commands)
        )
        bird_conf = BIRD_TEMPLATE.format(
            rid="10.250.1.2",
            asn=64512,
            local4="10.250.1.2",
            peer4="10.250.1.1",
            local6="fd00:250:1::2",
            peer6="fd00:250:1::1",
            routes4="route 10.10.0.0/16 blackhole; route 10.10.1.0/24 blackhole; route 10.10.2.0/24 blackhole;",
            routes6="route fd10:10::/48 blackhole; route fd10:11::/48 blackhole;",
        )
        bird = lb.start_bird("cloud", bird_conf, "cloud")
        exabgp = shutil.which("exabgp", path=str(Path(sys.executable).parent)) or "exabgp"
        lb.spawn(
            "rs",
            [exabgp, str(conf)],
            "exabgp.log",
            env={"exabgp_daemon_user": "root", "exabgp_log_destination": "stderr"},
        )
        wait_for("both sessions established", lambda: bird.established("up4") and bird.established("up6"), timeout=60)
        wait_for("IPv6 routes captured", lambda: "fd10:11::/48" in raw.read_text(), timeout=30)
        wait_for(
            "answers to the commands captured",
            lambda: raw.read_text().count("done") + raw.read_text().count("error") >= 7,
            timeout=30,
        )
        # the route refresh is answered with the table bracketed by BoRR / EoRR (RFC 7313: BIRD and ExaBGP agree on it)
        wait_for("End-of-Route-Refresh captured", lambda: '"subtype": "end"' in raw.read_text(), timeout=30)
        # a withdraw
        bird.reconfigure(
            bird_conf.replace("route 10.10.2.0/24 blackhole;", "").replace("route fd10:11::/48 blackhole;", "")
        )
        wait_for("withdraw captured", lambda: '"withdraw"' in raw.read_text(), timeout=30)
        time.sleep(1)
        # the peer shuts the session down: notification and state down
        bird.cmd("disable", "up4")
        wait_for("state down captured", lambda: '"down"' in raw.read_text(), timeout=30)
        time.sleep(1)
        lines = [line for line in raw.read_text().splitlines() if line.strip()]
    target.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} lines to {target}")


if __name__ == "__main__":
    main()
