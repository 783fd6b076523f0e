"""Stable numeric codes for reasons: why a route was rejected, what triggered a decision, and the reasons bgpsteer
can put on the wire as large communities (``steering.reason_communities``).  The numbers never change meaning;
new ones are added at the end.  `bgpsteer explain --codes` prints these tables; policies/README.md lists them.
"""

from __future__ import annotations

from enum import IntEnum


class Reject(IntEnum):
    """Why the import stage rejected a route (explain --json: ``reject_code``)."""

    ACCEPTED = 0
    POLICY_STATEMENT = 1  # an import statement with `then: reject` matched
    POLICY_DEFAULT = 2  # no statement decided and the import default is reject
    POLICY_ERROR = 3  # the policy raised while evaluating (fail closed)
    DEFAULT_ROUTE = 10  # import safety: a default route (allow_default is false)
    TOO_SPECIFIC = 11  # import safety: longer than max_length
    SPECIAL_PURPOSE = 12  # import safety: inside an IANA special-purpose block
    PRIVATE = 13  # import safety: private space (reject_private)
    MARTIAN_NEXT_HOP = 14  # import safety: the next-hop is a martian
    INVALID_NEXT_HOP = 15  # the next-hop is not an address
    COVERS_NEXT_HOP = 16  # import safety: the prefix covers an egress next-hop
    FAMILY_NOT_CONFIGURED = 17  # the peer is not configured for the route's family
    NO_IPV6_NEXT_HOP = 18  # the egress has no next_hop6 for an IPv6 route
    OTHER = 99


# (what the reason says, its code): the import stage's own words, matched once here
_REJECTS = (
    ("import safety: default route", Reject.DEFAULT_ROUTE),
    ("import safety: too specific", Reject.TOO_SPECIFIC),
    ("import safety: special-purpose", Reject.SPECIAL_PURPOSE),
    ("import safety: private prefix", Reject.PRIVATE),
    ("import safety: martian next-hop", Reject.MARTIAN_NEXT_HOP),
    ("invalid next-hop", Reject.INVALID_NEXT_HOP),
    ("import safety: covers next-hop", Reject.COVERS_NEXT_HOP),
)


def reject_code(accepted: bool, trace: tuple[str, ...] | list[str], error: bool = False) -> Reject:
    if accepted:
        return Reject.ACCEPTED
    if error:
        return Reject.POLICY_ERROR
    last = trace[-1] if trace else ""
    for words, code in _REJECTS:
        if last.startswith(words):
            return code
    if last.startswith("family ipv") and "not configured for peer" in last:
        return Reject.FAMILY_NOT_CONFIGURED
    if "has no IPv6 next-hop" in last:
        return Reject.NO_IPV6_NEXT_HOP
    if " default reject" in last:
        return Reject.POLICY_DEFAULT
    if last.endswith("; reject"):
        return Reject.POLICY_STATEMENT
    return Reject.OTHER


class Trigger(IntEnum):
    """What triggered a decision pass (the journal's ``code``; metrics' ``reason`` label is the name)."""

    OTHER = 0
    UPDATE = 1
    WITHDRAW = 2
    PEER_DOWN = 3
    RELOAD = 4
    DRAIN = 5
    RELIEF = 6


def trigger_code(kind: str) -> Trigger:
    return Trigger.__members__.get(kind.upper(), Trigger.OTHER)


class Wire(IntEnum):
    """The second field of the reason large communities (LOCAL_ASN:FUNCTION:VALUE) on announced paths."""

    EGRESS = 1  # VALUE: the egress's path id (its ADD-PATH id; `bgpsteer check` lists them)
    RANK = 2  # VALUE: the path's rank among the prefix's announced paths by bgpsteer's preference, 1 = preferred
    STATEMENT = 3  # VALUE: the import statement that accepted the route, 1-based; 0 = the import default
    MULTIPATH = 4  # VALUE: 1 when the prefix is spread (steering.multipath)
    RELIEF = 5  # VALUE: 1 when relief moved the prefix off this path's egress


def tables() -> dict[str, dict[int, str]]:
    """Every code table, for `explain --codes`."""
    return {
        "reject": {c.value: c.name.lower() for c in Reject},
        "trigger": {c.value: c.name.lower() for c in Trigger},
        "wire": {c.value: c.name.lower() for c in Wire},
    }
