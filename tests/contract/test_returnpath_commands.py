"""ExaBGP's own parser is the oracle for the return path's commands: every announcement and withdrawal sent to a
cloud session (no path identifier, next-hop self, prepends, MED, halves) is one ExaBGP accepts."""

from __future__ import annotations

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.events import Announce, Withdraw
from bgpsteer.exabgp import codec
from tests.contract.oracle import accepts
from tests.unit.returnpath_world import started, with_return


def test_every_return_path_command_is_accepted_by_exabgp() -> None:
    eng, effects = started()
    effects += eng.assume_down("fra", 1.0) + eng.drain("ams", True, 2.0) + eng.drain("ams", False, 3.0)
    prepended = Announce(
        4,
        0,
        Attrs(next_hop="169.254.21.2", as_path=(65000,) * 3, communities=((65000, 10),)),
        ["10.101.0.0/16"],
        peer="x",
    )
    ours = [e for e in effects if isinstance(e, (Announce, Withdraw)) and e.peer is not None] + [prepended]
    lines = [line for e in ours for line in codec.encode(e, e.peer or "")]
    assert any(" withdraw attributes next-hop 0.0.0.0 nlri " in x for x in lines)
    assert any(" med 100 " in x and "/17" in x for x in lines)
    assert all(" path-information " not in x for x in lines)  # no ADD-PATH towards a cloud
    refused = [x for x in lines if not accepts(x)]
    assert not refused, refused[:3]
    assert not accepts("neighbor 10.1.0.2 announce attributes next-hop self med x nlri 10.1.0.0/16")  # the oracle bites


def test_what_the_return_policy_sets_is_accepted_by_exabgp() -> None:
    everything = {
        "name": "all",
        "set": {
            "med": "+7",
            "community": {"add": ["65000:7", "no-export"]},
            "large_community": {"add": ["65000:1:2"]},
            "as_path_prepend": 2,
        },
        "then": "accept",
    }
    _, effects = started(with_return({"default": "accept", "statements": [everything]}))
    ours = [e for e in effects if isinstance(e, Announce) and e.peer is not None]
    lines = [line for e in ours for line in codec.encode(e, e.peer or "")]
    assert lines
    assert all(" large-community " in x and " as-path [ 65000 65000 65000" in x for x in lines), lines[:2]
    refused = [x for x in lines if not accepts(x)]
    assert not refused, refused[:3]
