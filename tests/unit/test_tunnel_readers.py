"""The tunnel readers' parsing (bgpsteer/tunnels/): real wireguard-go and ``wg show`` output captured in this
project's lab, netlink link flags, and a WireGuard control socket that misbehaves."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bgpsteer.core.model import Tunnel
from bgpsteer.core.tunnel import TunnelFacts
from bgpsteer.tunnels import ipsec, wireguard
from bgpsteer.tunnels.netlink import reading
from bgpsteer.tunnels.runner import read_wireguard

DATA = Path(__file__).parent / "data"
PEER = "inc6D8BELRRiJqr+clIUhA4cMfa3kx0R+NiYt2fUOic="  # the one peer in both captures
STAMP = 1796311849


def test_the_control_socket_and_wg_show_say_the_same() -> None:
    uapi = wireguard.parse_uapi((DATA / "wireguard-go-get.txt").read_text())
    dump = wireguard.parse_dump((DATA / "wg-show-dump.txt").read_text())
    assert [p.key for p in uapi] == [p.key for p in dump]
    assert uapi[0].handshake == STAMP + 0.512
    assert dump[0].handshake == STAMP
    f = wireguard.facts("fra", "wg-fra", PEER, uapi, STAMP + 10.512)
    assert (f.readable, f.present, f.handshake_stamp, f.handshake_age) == (True, True, STAMP + 0.512, 10.0)


def test_never_a_handshake_another_peer_and_no_peer() -> None:
    never = wireguard.parse_uapi((DATA / "wireguard-go-get.txt").read_text().replace(f"sec={STAMP}", "sec=0"))
    f = wireguard.facts("fra", "wg-fra", None, never, 0.0)  # the device's only peer
    assert (f.present, f.handshake_stamp) == (True, None)
    other = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
    f = wireguard.facts("fra", "wg-fra", other, never, 0.0)
    assert (f.readable, f.present, f.detail) == (True, False, "peer xTIBA5rb... not on wg-fra")
    f = wireguard.facts("fra", "wg-fra", None, [], 0.0)
    assert (f.present, f.detail) == (False, "wg-fra has no peer")
    two = never + never
    assert wireguard.facts("fra", "wg-fra", None, two, 0.0).detail == "wg-fra has 2 peers: name one with 'peer'"


def test_malformed_replies_are_read_errors() -> None:
    with pytest.raises(wireguard.ReadError, match="errno=19"):
        wireguard.parse_uapi("errno=19\n")
    with pytest.raises(wireguard.ReadError, match="not a key"):
        wireguard.parse_uapi("public_key=zz\n")
    with pytest.raises(wireguard.ReadError, match="unexpected line"):
        wireguard.parse_dump("iface\nkey\tonly\n")


def test_link_flags_mean_up_only_with_a_carrier() -> None:
    assert reading("fra", {"flags": 0x11043}, "wg-fra").link_up  # UP, LOWER_UP (a working TUN: operstate UNKNOWN)
    assert not reading("fra", {"flags": 0x1003}, "wg-fra").link_up  # UP, no carrier (its owner process is gone)
    assert not reading("fra", {"flags": 0x1002}, "wg-fra").link_up  # set down
    gone = reading("fra", None, "wg-fra")
    assert (gone.readable, gone.present, gone.detail) == (True, False, "no device wg-fra")


def serve(path: Path, reply: bytes) -> asyncio.AbstractServer:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    return asyncio.get_event_loop().run_until_complete(asyncio.start_unix_server(answer, str(path)))


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ((DATA / "wireguard-go-get.txt").read_bytes(), (True, True, STAMP + 0.512)),
        (b"public_key=8a77", (False, False, None)),  # closed mid-reply
        (b"errno=2\n\n", (False, False, None)),
    ],
)
def test_a_control_socket_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reply: bytes, want: tuple[bool, bool, float | None]
) -> None:
    monkeypatch.setattr(wireguard, "SOCKET_DIR", tmp_path)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server = serve(tmp_path / "wg-fra.sock", reply)
        f = loop.run_until_complete(read_wireguard("fra", Tunnel("wireguard", "wg-fra", PEER)))
        server.close()
    finally:
        loop.close()
    assert (f.readable, f.present, f.handshake_stamp) == want
    assert f.readable or f.detail


def test_no_socket_and_no_device_is_never_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """wireguard-go's socket missing: ``wg show`` is asked, which knows no such device either ("No such device"
    where the kernel has WireGuard; "Protocol not supported" where it has not, as here: unreadable)."""
    monkeypatch.setattr(wireguard, "SOCKET_DIR", tmp_path)
    f = asyncio.run(read_wireguard("fra", Tunnel("wireguard", "bs-nosuch0")))
    assert not f.present
    assert f.detail


def sas() -> list[dict[str, object]]:
    """``list-sas`` as strongSwan 5.9.8 answered it in the lab (values as bytes, as the vici client gives them)."""

    def raw(x: object) -> object:
        if isinstance(x, str):
            return x.encode()
        if isinstance(x, dict):
            return {k: raw(v) for k, v in x.items()}
        if isinstance(x, list):
            return [raw(v) for v in x]
        return x

    return [raw(e) for e in json.loads((DATA / "strongswan-list-sas.json").read_text())]  # type: ignore[misc]


IPSEC = Tunnel("ipsec", "", ike="fra", child="fra-c")


def test_an_established_ike_sa_with_its_child_installed_is_up() -> None:
    f = ipsec.facts("fra", IPSEC, sas())
    assert (f.readable, f.present, f.handshake_stamp, f.handshake_age, f.expires_in) == (True, True, 1.0, 3.0, 3897.0)
    assert f.detail == "IKE_SA ESTABLISHED, CHILD_SA fra-c INSTALLED"


def test_the_wrong_child_a_rekeying_ike_sa_and_no_sa_are_not_present() -> None:
    assert not ipsec.facts("fra", Tunnel("ipsec", "", ike="fra", child="other"), sas()).present
    connecting = sas()
    connecting[0]["fra"]["state"] = b"CONNECTING"  # type: ignore[index]
    f = ipsec.facts("fra", IPSEC, connecting)
    assert (f.present, f.detail) == (False, "IKE_SA CONNECTING")
    assert ipsec.facts("fra", Tunnel("ipsec", "", ike="ams"), sas()).detail == "no IKE_SA"


def test_during_a_rekey_the_newest_child_sa_counts() -> None:
    both = sas()
    children = both[0]["fra"]["child-sas"]  # type: ignore[index]
    newer = dict(children["fra-c-1"], uniqueid=b"2", **{"install-time": b"0"})
    children["fra-c-2"] = newer
    f = ipsec.facts("fra", IPSEC, both)
    assert (f.handshake_stamp, f.handshake_age) == (2.0, 0.0)


def test_permission_denied_on_the_control_socket_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    async def denied(device: str, directory: Path | None = None) -> str:
        raise PermissionError(13, "Permission denied", f"/var/run/wireguard/{device}.sock")

    monkeypatch.setattr(wireguard, "read_socket", denied)
    f = asyncio.run(read_wireguard("fra", Tunnel("wireguard", "wg-fra")))
    assert (f.readable, f.present) == (False, False)
    assert f.detail.startswith("permission denied")


def test_a_missing_vici_socket_is_unreadable(tmp_path: Path) -> None:
    from bgpsteer.tunnels.ipsec import IpsecWatcher

    got: list[object] = []
    t = Tunnel("ipsec", "", ike="fra", vici=str(tmp_path / "charon.vici"))

    async def main() -> None:
        w = IpsecWatcher(t.vici, {"fra": t}, got.append, 0.1)
        w.start()
        for _ in range(100):  # bounded: at most 1 s
            if got:
                break
            await asyncio.sleep(0.01)
        w.close()

    asyncio.run(main())
    f = got[0]
    assert isinstance(f, TunnelFacts)
    assert (f.readable, f.present) == (False, False)
    assert str(tmp_path / "charon.vici") in f.detail


def test_check_warns_about_a_device_or_socket_that_is_not_there(tmp_path: Path) -> None:
    from bgpsteer.core.model import Egress
    from bgpsteer.tunnels.runner import missing_devices

    egresses = [
        Egress("fra", "eu", "EU", 0.0, "10.255.0.1", 1, tunnel=Tunnel("interface", "bs-nosuch0")),
        Egress("ams", "eu", "EU", 0.0, "10.255.0.2", 2, tunnel=Tunnel("interface", "lo")),
        Egress("lon", "uk", "UK", 0.0, "10.255.0.3", 3, tunnel=Tunnel("ipsec", "", ike="x", vici=str(tmp_path))),
        Egress("par", "eu", "EU", 0.0, "10.255.0.4", 4, tunnel=Tunnel("ipsec", "", ike="x", vici="/nonexistent")),
    ]
    warnings = missing_devices(egresses, "t.yaml")
    assert [w.split(":")[1].strip() for w in warnings] == ["egresses[fra].tunnel.device", "egresses[par].tunnel.vici"]


def test_during_an_ike_rekey_the_old_sa_listed_first_does_not_make_the_tunnel_down() -> None:
    """strongSwan lists both IKE_SAs of a connection while one is rekeyed; the old one (REKEYED, its CHILD_SAs
    moved to the new one) comes first.  Reading only the first would say down for the length of the overlap."""
    new = sas()[0]["fra"]
    old = {k: v for k, v in new.items() if k != "child-sas"}  # type: ignore[attr-defined]
    old.update(state=b"REKEYED", uniqueid=b"1")
    f = ipsec.facts("fra", IPSEC, [{"fra": old}, {"fra": new}])
    assert (f.present, f.detail) == (True, "IKE_SA ESTABLISHED, CHILD_SA fra-c INSTALLED")
    deleting = dict(old, state=b"DELETING")
    assert not ipsec.facts("fra", IPSEC, [{"fra": deleting}]).present
    assert ipsec.facts("fra", IPSEC, [{"fra": deleting}]).detail == "IKE_SA DELETING"


def test_a_child_sa_being_rekeyed_is_still_installed() -> None:
    """Make-before-break: the old CHILD_SA carries traffic until its successor is in and it is deleted."""
    rekeying = sas()
    rekeying[0]["fra"]["child-sas"]["fra-c-1"]["state"] = b"REKEYING"  # type: ignore[index]
    f = ipsec.facts("fra", IPSEC, rekeying)
    assert (f.present, f.detail) == (True, "IKE_SA ESTABLISHED, CHILD_SA fra-c REKEYING")
    rekeying[0]["fra"]["child-sas"]["fra-c-1"]["state"] = b"DELETING"  # type: ignore[index]
    f = ipsec.facts("fra", IPSEC, rekeying)
    assert (f.present, f.detail) == (False, "IKE_SA ESTABLISHED, no CHILD_SA fra-c installed")
