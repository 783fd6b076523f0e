"""The benches' ExaBGP line builder, decoded by bgpsteer's own codec: a builder that emits lines the helper rejects
makes a bench measure nothing (bench/helpers/pipe.py once doubled its braces and every stall and soak run fed the
helper only malformed lines)."""

from __future__ import annotations

from bench.helpers.pipe import update_line
from bgpsteer.core.events import RoutesAnnounced, RoutesWithdrawn
from bgpsteer.core.model import IPV4
from bgpsteer.exabgp.codec import Decoder

PREFIXES = ["44.0.0.0/24", "44.0.1.0/24", "44.1.0.0/16"]


def test_an_announcement_decodes_to_exactly_the_routes_and_attributes_it_meant() -> None:
    out = Decoder().decode(update_line("10.250.1.2", 64512, PREFIXES, (64512, 65101), 77))
    assert len(out) == 1
    ann = out[0]
    assert isinstance(ann, RoutesAnnounced)
    assert (ann.peer, ann.afi, ann.prefixes) == ("10.250.1.2", IPV4, PREFIXES)
    assert (ann.attrs.origin, ann.attrs.as_path, ann.attrs.med) == ("igp", (64512, 65101), 77)
    assert ann.attrs.next_hop == "10.250.1.2"


def test_a_withdrawal_decodes_to_exactly_the_prefixes_it_meant() -> None:
    out = Decoder().decode(update_line("10.250.2.2", 16550, PREFIXES[:2], (16550,), 0, withdraw=True))
    assert out == [RoutesWithdrawn("10.250.2.2", IPV4, PREFIXES[:2])]
