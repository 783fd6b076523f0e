"""Real IPsec between lab namespaces: strongSwan from Debian (``charon-systemd``, ``strongswan-swanctl``) with
``kernel-libipsec`` (``libcharon-extra-plugins``): ESP in userspace over a TUN device (``ipsec0``), since this
kernel has no ESP, VTI or xfrm modules.

Each charon runs in its node's network namespace and in a mount namespace of its own (a tmpfs on /run for its pid
file and default sockets), with its strongswan.conf, swanctl.conf and VICI socket in the lab's directory.  The
inside addresses sit on the node's loopback (kernel-libipsec routes to the TUN with them as source).
Measured here: the IKE_SA and CHILD_SA come up in about a second; the ``kdf`` plugin is needed (without it: "key
derivation failed"); all CHILD_SAs of a charon share its one TUN device, so two IPsec egresses to one gateway
whose traffic selectors overlap cannot be told apart by routing in a namespace."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.netlab import Lab, sh, wait_for

PLUGINS = "random nonce kdf openssl pem pkcs1 x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown"
CHARON = """charon-systemd {{
  load = {plugins}
  install_routes = no
  journal {{ default = -1 }}
  filelog {{ stderr {{ default = 1 }} }}
  plugins {{
    vici {{ socket = unix://{vici} }}
    kernel-libipsec {{ allow_peer_ts = yes }}
  }}
}}
"""
SWANCTL = """connections {{
  {name} {{
    version = 2
    local_addrs = {me}
    remote_addrs = {them}
    rekey_time = {ike_rekey}s
    over_time = {ike_rekey}s
    rand_time = 0s
    local {{ auth = psk
            id = {me} }}
    remote {{ auth = psk
             id = {them} }}
    children {{
      {child} {{
        local_ts = {my_inside}/32
        remote_ts = {their_inside}/32
        start_action = {start}
        rekey_time = {child_rekey}s
        life_time = {child_life}s
        rand_time = 0s
      }}
    }}
  }}
}}
secrets {{ ike-{name} {{ secret = "{secret}" }} }}
"""


@dataclass(frozen=True)
class IpsecEnd:
    node: str
    vici: Path  # its VICI socket
    conf: Path  # its swanctl.conf


def _charon(lb: Lab, node: str) -> Path:
    conf = lb.path(f"strongswan-{node}/strongswan.conf")
    vici = lb.path(f"strongswan-{node}/charon.vici")
    conf.write_text(CHARON.format(plugins=PLUGINS, vici=vici))
    shell = "mount -t tmpfs tmpfs /run && mkdir -p /run/strongswan && exec /usr/sbin/charon-systemd"
    lb.spawn(node, ["unshare", "-m", "sh", "-c", shell], f"charon-{node}.log", env={"STRONGSWAN_CONF": str(conf)})
    wait_for(f"charon's VICI socket in {node}", vici.exists, timeout=15)
    return vici


def swanctl(end: IpsecEnd, *args: str) -> str:
    out = subprocess.run(
        ["swanctl", *args, "--uri", f"unix://{end.vici}"], capture_output=True, text=True, timeout=30, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"swanctl {' '.join(args)}: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout


def ipsec(
    lb: Lab,
    name: str,
    a: str,
    b: str,
    underlay: tuple[str, str],
    inside: tuple[str, str],
    rekey: tuple[int, int, int] = (3600, 1800, 3900),
) -> tuple[IpsecEnd, IpsecEnd]:
    """An IKEv2 connection ``name`` (CHILD_SA ``name``-c) between a (initiator) and b over a veth with the
    ``underlay`` addresses, protecting the two ``inside`` /32s; ``rekey``: (IKE rekey, CHILD rekey, CHILD life)
    seconds (short ones make rekeys to watch).  Returns once a's CHILD_SA is installed.  Only a rekeys (b's rekey
    times are 0): two ends rekeying at the same second collide, and an IKE_SA whose rekey did not finish within its
    lifetime is gone for good."""
    lb.link(a, f"{underlay[0]}/30", b, f"{underlay[1]}/30")
    ends = []
    for n, (node, start) in enumerate(((b, "none"), (a, "start"))):
        me, them = (underlay[1], underlay[0]) if n == 0 else underlay
        mine, theirs = (inside[1], inside[0]) if n == 0 else inside
        sh("ip", "addr", "add", f"{mine}/32", "dev", "lo", ns=lb.ns(node))
        sh("ip", "link", "set", "lo", "up", ns=lb.ns(node))
        vici = _charon(lb, node)
        conf = lb.path(f"strongswan-{node}/swanctl.conf")
        conf.write_text(
            SWANCTL.format(
                name=name,
                child=f"{name}-c",
                me=me,
                them=them,
                my_inside=mine,
                their_inside=theirs,
                start=start,
                ike_rekey=rekey[0] if n else 0,
                child_rekey=rekey[1] if n else 0,
                child_life=rekey[2],
                secret=f"lab-{lb.tag}-{name}-secret",
            )
        )
        conf.chmod(0o600)
        end = IpsecEnd(node, vici, conf)
        swanctl(end, "--load-all", "--file", str(conf))
        ends.append(end)
    initiator = ends[1]
    wait_for(
        f"{name}'s CHILD_SA installed in {a}",
        lambda: "INSTALLED" in swanctl(initiator, "--list-sas", "--ike", name),
        timeout=30,
    )
    return initiator, ends[0]
