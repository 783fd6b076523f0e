"""Real encrypted tunnels between lab namespaces: userspace WireGuard (Debian's ``wireguard-go`` and
``wireguard-tools``), since this kernel has no WireGuard, ESP, VTI or xfrm modules.

Each tunnel runs over its own veth (the "underlay", as the Internet path under a VPN) between two namespaces; its
devices carry the inside addresses.  Every wireguard-go keeps its control socket in ``/var/run/wireguard/NAME.sock``
(one directory for all namespaces), so device names carry the lab's tag.  The processes run in the foreground
under the lab, which stops them (and so removes their devices and sockets) when it is torn down."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab.netlab import Lab, sh, wait_for

PORT = 51820
SOCKETS = Path("/var/run/wireguard")


@dataclass(frozen=True)
class WgTunnel:
    a: str  # namespace (the lab's name) and device of each end
    dev_a: str
    b: str
    dev_b: str
    key_a: str  # public keys
    key_b: str
    under_a: str  # underlay addresses
    under_b: str
    port: int


def _keypair() -> tuple[str, str]:
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout.strip()
    public = subprocess.run(["wg", "pubkey"], input=private, capture_output=True, text=True, check=True).stdout.strip()
    return private, public


def wireguard(
    lb: Lab, name: str, a: str, a_inside: str, b: str, b_inside: str, underlay: tuple[str, str], port: int = PORT
) -> WgTunnel:
    """A WireGuard tunnel ``name`` (a few letters: device names are TAG+name+side, at most 15 bytes) between a and
    b, with inside addresses (prefix length included) over a veth with the ``underlay`` addresses (/30); each end
    listens on ``port`` (one per tunnel where a namespace has several)."""
    lb.link(a, f"{underlay[0]}/30", b, f"{underlay[1]}/30")
    devs = (f"{lb.tag}{name}a"[:15], f"{lb.tag}{name}b"[:15])
    keys = (_keypair(), _keypair())
    env = {"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}  # a kernel with WireGuard would refuse otherwise
    for node, dev in ((a, devs[0]), (b, devs[1])):
        lb.spawn(node, ["wireguard-go", "-f", dev], f"wireguard-{dev}.log", env=env)
    for dev in devs:
        wait_for(f"wireguard-go's {dev}", (SOCKETS / f"{dev}.sock").exists, timeout=10)
    ends = (
        (a, devs[0], keys[0][0], keys[1][1], underlay[1], a_inside),
        (b, devs[1], keys[1][0], keys[0][1], underlay[0], b_inside),
    )
    for node, dev, private, peer, endpoint, inside in ends:
        keyfile = lb.path(f"{dev}.key")
        keyfile.write_text(private + "\n")
        keyfile.chmod(0o600)
        wg_set = ["wg", "set", dev, "private-key", str(keyfile), "listen-port", str(port), "peer", peer]
        sh(*wg_set, "endpoint", f"{endpoint}:{port}", "allowed-ips", "0.0.0.0/0", ns=lb.ns(node))
        sh("ip", "addr", "add", inside, "dev", dev, ns=lb.ns(node))
        sh("ip", "link", "set", dev, "up", ns=lb.ns(node))
    return WgTunnel(a, devs[0], b, devs[1], keys[0][1], keys[1][1], underlay[0], underlay[1], port)


def remove_peer(lb: Lab, t: WgTunnel) -> None:
    """At end a, the peer is removed: the tunnel carries nothing more either way (as a revoked key)."""
    sh("wg", "set", t.dev_a, "peer", t.key_b, "remove", ns=lb.ns(t.a))


def add_peer(lb: Lab, t: WgTunnel) -> None:
    sh(
        "wg",
        "set",
        t.dev_a,
        "peer",
        t.key_b,
        "endpoint",
        f"{t.under_b}:{t.port}",
        "allowed-ips",
        "0.0.0.0/0",
        ns=lb.ns(t.a),
    )
