"""What each cloud provider's VPN gateway does with the routes bgpsteer announces to it: checked facts, once.

A profile carries, from the provider's documentation (cited in policies/README.md, "Return path"):

- ``knob``: the attribute bgpsteer sets to make the gateway prefer one of our sessions over another for the same
  prefix (``med``: a lower MED on the preferred session; ``prepend``: our AS prepended on the others);
- ``order``: the gateway's documented path selection after the longest prefix, as attribute names;
- ``max_routes``: how many routes the gateway accepts from us on one session (None: no documented limit);
- ``hold_time`` / ``keepalive``: its default BGP timers (documented; a peer's ``hold_time`` may match them);
  ``fixed_timers``: the gateway does not negotiate them away;
- ``reserved_asns``: ASNs our side may not use towards it;
- ``inside`` / ``reserved_inside``: where the tunnel's inside (BGP) addresses must lie, and the /30s the
  provider keeps for itself;
- ``gtsm``: the gateway is documented to support TTL security (RFC 5082) on its BGP sessions (none of the four
  clouds' VPN gateways is: ``check`` refuses ``ttl_security`` towards them, the session would never come up);
- ``graceful_restart``: the gateway documents BGP graceful restart (RFC 4724) as a helper, so it keeps our routes
  while ExaBGP restarts: only then does bgpsteer advertise the capability on the session (and send End-of-RIB
  itself once the return path is sent again).

Every gateway takes the longest prefix first (a more-specific always wins).  ``prefers`` encodes the whole order
for the tests and for the NOC's "which session does the cloud use" answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from bgpsteer.core.model import CloudPeer, CoreRouter
from bgpsteer.core.prefix import covers, parse_prefix

LINK_LOCAL = "169.254.0.0/16"


@dataclass(frozen=True)
class Provider:
    name: str
    knob: str  # "med" | "prepend"
    order: tuple[str, ...]  # after the longest prefix: "as_path" (shortest first), "med" (lowest first)
    max_routes: int | None
    hold_time: int
    keepalive: int
    fixed_timers: bool = False
    reserved_asns: frozenset[int] = frozenset()
    inside: tuple[str, ...] = ()  # inside addresses in 169.254/16 must lie in one of these (none: anywhere)
    reserved_inside: tuple[str, ...] = ()
    graceful_restart: bool = False
    gtsm: bool = False


PROFILES: dict[str, Provider] = {
    # virtual private gateway and Transit Gateway VPN: "BGP advertised routes ... 100 per Site-to-Site VPN
    # connection"; MED marks the preferred tunnel, and AWS advises against prepending; DPD/hold 30 s
    "aws": Provider(
        "aws",
        "med",
        ("as_path", "med"),
        100,
        30,
        10,
        reserved_asns=frozenset({7224, 9059}),
        reserved_inside=(
            "169.254.0.0/30",
            "169.254.1.0/30",
            "169.254.2.0/30",
            "169.254.3.0/30",
            "169.254.4.0/30",
            "169.254.5.0/30",
            "169.254.169.252/30",
        ),
    ),
    # VPN Gateway: no weight for VPN, prepending decides; above 4,000 prefixes Azure drops the session;
    # keepalive 60 s, hold 180 s, not configurable; custom BGP (APIPA) addresses in 169.254.21.0-169.254.22.255
    "azure": Provider(
        "azure",
        "prepend",
        ("as_path",),
        4000,
        180,
        60,
        fixed_timers=True,
        reserved_asns=frozenset({65515, 65517, 65518, 65519, 65520, 8074, 8075, 12076}),
        inside=("169.254.21.0/24", "169.254.22.0/24"),
    ),
    # Cloud Router: the learned route's priority is its MED (lowest wins; equal MEDs give ECMP); a learned-route
    # quota per VPC network drops what is beyond it (no per-session number: set max_routes on the peer);
    # "Manage BGP timers": it supports graceful restart (RFC 4724)
    "gcp": Provider("gcp", "med", ("med",), None, 60, 20, graceful_restart=True),
    # VPN Gateway: AS-path prepending; 50 BGP routes by default (a quota); 45104 is Alibaba Cloud's own ASN
    "alibaba": Provider("alibaba", "prepend", ("as_path",), 50, 30, 10, reserved_asns=frozenset({45104})),
    # anything else: prepending is honoured by every BGP speaker; no limit known
    "generic": Provider("generic", "prepend", ("as_path", "med"), None, 90, 30, gtsm=True),
}


def profile(provider: str) -> Provider:
    """The profile of a cloud peer's ``provider`` (unknown names get ``generic``: check warns about them)."""
    return PROFILES.get(provider, PROFILES["generic"])


def graceful_restart(peer: CloudPeer | CoreRouter) -> bool:
    """Whether a session gets graceful restart (when ``agent.graceful_restart`` is on): every core session, and a
    cloud session whose provider documents it."""
    return not isinstance(peer, CloudPeer) or profile(peer.provider).graceful_restart


def inside_problem(p: Provider, address: str) -> str | None:
    """Why a BGP peer address is not a valid tunnel inside address for this provider (None: fine, or not an
    inside address at all)."""
    try:
        parsed = parse_prefix(f"{address}/32")
    except ValueError:
        return None
    if not covers(parse_prefix(LINK_LOCAL), parsed):
        return None
    for reserved in p.reserved_inside:
        if covers(parse_prefix(reserved), parsed):
            return f"{address} lies in {reserved}, which {p.name} reserves for itself"
    if p.inside and not any(covers(parse_prefix(r), parsed) for r in p.inside):
        return f"{address} is outside {' and '.join(p.inside)}, where {p.name} wants its custom BGP (APIPA) addresses"
    return None


Offer = tuple[int, int, int]  # (prefix length, MED, AS path length) of one session's route for one address


def prefers(p: Provider, offers: dict[str, Offer]) -> list[str]:
    """The sessions (keys) whose route the gateway uses, by its documented order: the longest prefix, then its
    knob (lowest MED, or shortest AS path); several when they tie (ECMP, or the gateway's own tie-break)."""
    if not offers:
        return []

    def key(o: Offer) -> tuple[int, ...]:
        length, med, path = o
        return (-length, *(path if a == "as_path" else med for a in p.order))

    best = min(key(o) for o in offers.values())
    return sorted(s for s, o in offers.items() if key(o) == best)
