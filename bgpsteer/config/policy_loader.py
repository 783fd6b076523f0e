"""Builds named sets and policies from the `sets` and `policy` sections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import SequenceNode

from bgpsteer.config.nodes import Cursor
from bgpsteer.core.attrs import U32_MAX, Community, LargeCommunity, parse_community, parse_large_community
from bgpsteer.core.model import FAMILY_AFI, CloudPeer, Egress
from bgpsteer.core.policy import (
    Action,
    AsPathContains,
    AsPathLength,
    AsPathRegex,
    CommunityMatch,
    Condition,
    EditCommunities,
    FamilyIs,
    FieldIn,
    LargeCommunityMatch,
    OriginIs,
    Policy,
    PrefixIn,
    PrefixLength,
    Prepend,
    SetLocalPref,
    SetMed,
    SetNextHop,
    Statement,
    compile_as_path_regex,
)
from bgpsteer.core.prefix import PrefixSet, parse_address, parse_range

MATCH_KEYS = {
    "prefix": False,
    "prefix_length": False,
    "family": False,
    "peer": False,
    "egress": False,
    "provider": False,
    "region": False,
    "jurisdiction": False,
    "egress_region": False,
    "community": False,
    "large_community": False,
    "as_path_regex": False,
    "as_path_contains": False,
    "as_path_length": False,
    "origin": False,
}
SET_KEYS = {
    "local_pref": False,
    "med": False,
    "community": False,
    "large_community": False,
    "as_path_prepend": False,
    "next_hop": False,
}


@dataclass
class Sets:
    prefix: dict[str, PrefixSet] = field(default_factory=dict)
    community: dict[str, frozenset[Community]] = field(default_factory=dict)
    large_community: dict[str, frozenset[LargeCommunity]] = field(default_factory=dict)


def load_sets(cur: Cursor) -> Sets:
    sets = Sets()
    sections = cur.mapping({"prefix": False, "community": False, "large_community": False})
    if not sections:
        return sets
    for kind, parse in (
        ("prefix", parse_range),
        ("community", parse_community),
        ("large_community", parse_large_community),
    ):
        section = sections.get(kind)
        if section is None:
            continue
        names = section.mapping(None)
        for name, members_cur in (names or {}).items():
            members: list[Any] = []
            for m in members_cur.items():
                value = m.parsed(parse)
                if value is not None:
                    members.append(value)
            if isinstance(members_cur.node, SequenceNode) and not members_cur.node.value:
                members_cur.error("empty set: a set must have at least one member")
            if kind == "prefix":
                sets.prefix[name] = PrefixSet(name, members)
            elif kind == "community":
                sets.community[name] = frozenset(members)
            else:
                sets.large_community[name] = frozenset(members)
    return sets


@dataclass
class Context:
    sets: Sets
    peers: tuple[CloudPeer, ...]
    egresses: tuple[Egress, ...]
    local_asn: int
    shadow: dict[str, set[str]] = field(default_factory=dict)  # names of egresses/peers in error: no second error
    # the cost tie-break adds up to (egresses - 1) to a policy LOCAL_PREF: a set value must leave that room
    tiebreak_room: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # set actions this policy may not use, and why


def _names(cur: Cursor) -> frozenset[str] | None:
    values = [v for v in (c.string() for c in cur.items(allow_scalar=True)) if v is not None]
    if not values:
        cur.error("must name at least one value")
        return None
    return frozenset(values)


def _range(cur: Cursor, hi: int) -> tuple[int, int] | None:
    m = cur.mapping({"min": False, "max": False})
    if m is None:
        return None
    lo = m["min"].integer(0, hi) if "min" in m else 0
    top = m["max"].integer(0, hi) if "max" in m else hi
    if lo is None or top is None:
        return None
    if lo > top:
        cur.error(f"min {lo} is greater than max {top}")
        return None
    return lo, top


def _set_ref(cur: Cursor, table: dict[str, Any], kind: str, modes: tuple[str, ...]) -> tuple[str, Any, str] | None:
    """NAME, or {set: NAME, match: MODE}."""
    mode = "any"
    if isinstance(getattr(cur.node, "value", None), list):
        m = cur.mapping({"set": True, "match": False})
        if m is None or "set" not in m:
            return None
        name = m["set"].string()
        if "match" in m:
            chosen = m["match"].choice(modes)
            if chosen is None:
                return None
            mode = chosen
        ref = m["set"]
    else:
        name, ref = cur.string(), cur
    if name is None:
        return None
    if name not in table:
        ref.error(
            f"undefined {kind} set {name!r}"
            + (f"; defined: {', '.join(sorted(table))}" if table else "; none are defined under sets")
        )
        return None
    return name, table[name], mode


def _conditions(cur: Cursor, ctx: Context) -> list[Condition]:
    m = cur.mapping(MATCH_KEYS)
    if m is None:
        return []
    out: list[Condition] = []
    for key, c in m.items():
        cond = _MATCH[key](c, ctx) if key in _MATCH else _named(key, c, ctx)
        if cond is not None:
            out.append(cond)
    return out


def _known_names(key: str, ctx: Context) -> set[str]:
    """The names a match on peer, egress, provider, region, jurisdiction or egress_region may use."""
    if key in ("peer", "provider", "region"):
        return {getattr(p, "name" if key == "peer" else key) for p in ctx.peers}
    attr = {"egress": "id", "jurisdiction": "jurisdiction", "egress_region": "region"}[key]
    return {getattr(e, attr) for e in ctx.egresses}


def _named(key: str, c: Cursor, ctx: Context) -> Condition | None:
    values = _names(c)
    if values is None:
        return None
    known = _known_names(key, ctx)
    unknown = sorted(values - known - ctx.shadow.get(key, set()))
    if unknown:
        c.error(
            f"no {key.replace('_', ' ')} named {', '.join(map(repr, unknown))} is configured; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
        return None
    return FieldIn(key, values)  # type: ignore[arg-type]


def _match_prefix(c: Cursor, ctx: Context) -> Condition | None:
    ref = _set_ref(c, ctx.sets.prefix, "prefix", ("any", "invert"))
    return PrefixIn(ref[1], invert=ref[2] == "invert") if ref else None


def _match_prefix_length(c: Cursor, ctx: Context) -> Condition | None:
    r = _range(c, 128)
    return PrefixLength(*r) if r else None


def _match_family(c: Cursor, ctx: Context) -> Condition | None:
    fam = c.choice(("ipv4", "ipv6"))
    return FamilyIs(FAMILY_AFI[fam]) if fam else None


def _match_community(c: Cursor, ctx: Context) -> Condition | None:
    ref = _set_ref(c, ctx.sets.community, "community", ("any", "all", "invert"))
    return CommunityMatch(ref[0], ref[1], ref[2]) if ref else None  # type: ignore[arg-type]


def _match_large_community(c: Cursor, ctx: Context) -> Condition | None:
    ref = _set_ref(c, ctx.sets.large_community, "large_community", ("any", "all", "invert"))
    return LargeCommunityMatch(ref[0], ref[1], ref[2]) if ref else None  # type: ignore[arg-type]


def _match_as_path_regex(c: Cursor, ctx: Context) -> Condition | None:
    text = c.string()
    if text is None:
        return None
    try:
        return AsPathRegex(text, compile_as_path_regex(text))
    except Exception as exc:
        c.error(f"invalid regular expression: {exc}")
        return None


def _match_as_path_contains(c: Cursor, ctx: Context) -> Condition | None:
    asns = [v for v in (x.integer(1, 0xFFFFFFFF) for x in c.items(allow_scalar=True)) if v is not None]
    return AsPathContains(frozenset(asns)) if asns else None


def _match_as_path_length(c: Cursor, ctx: Context) -> Condition | None:
    r = _range(c, 255)
    return AsPathLength(*r) if r else None


def _match_origin(c: Cursor, ctx: Context) -> Condition | None:
    origins = [v for v in (x.choice(("igp", "egp", "incomplete")) for x in c.items(allow_scalar=True)) if v is not None]
    return OriginIs(frozenset(origins)) if origins else None


_MATCH: dict[str, Callable[[Cursor, Context], Condition | None]] = {
    "prefix": _match_prefix,
    "prefix_length": _match_prefix_length,
    "family": _match_family,
    "community": _match_community,
    "large_community": _match_large_community,
    "as_path_regex": _match_as_path_regex,
    "as_path_contains": _match_as_path_contains,
    "as_path_length": _match_as_path_length,
    "origin": _match_origin,
}  # the rest of MATCH_KEYS name configured things (_named)


def _communities(cur: Cursor, parse: Any, table: dict[str, frozenset[Any]], large: bool) -> Action | None:
    m = cur.mapping({"add": False, "remove": False, "replace": False})
    if m is None:
        return None
    if not m:
        cur.error("give at least one of add, remove, replace")
        return None
    if "replace" in m and "add" in m:
        cur.error("replace and add together are contradictory: list everything under replace")
        return None
    add: list[Any] = []
    remove: set[Any] = set()
    replace: list[Any] | None = None
    for key, c in m.items():
        values: list[Any] = []
        for item in c.items(allow_scalar=True):
            text = item.string()
            if text is None:
                continue
            if key == "remove" and text in table:
                values.extend(table[text])  # a set name removes all its members
                continue
            try:
                values.append(parse(text))
            except ValueError as exc:
                item.error(
                    str(exc)
                    + (
                        f" (or the name of a defined {'large_' if large else ''}community set)"
                        if key == "remove"
                        else ""
                    )
                )
        if key == "add":
            add = values
        elif key == "remove":
            remove = set(values)
        else:
            replace = values
    return EditCommunities(tuple(add), frozenset(remove), tuple(replace) if replace is not None else None, large=large)


def _actions(cur: Cursor, ctx: Context) -> list[Action]:
    m = cur.mapping(SET_KEYS)
    if m is None:
        return []
    out: list[Action] = []
    for key, c in m.items():
        if key in ctx.refused:
            c.error(ctx.refused[key])
            continue
        action = _SET[key](c, ctx)
        if action is not None:
            out.append(action)
    return out


def _set_local_pref(c: Cursor, ctx: Context) -> Action | None:
    v = c.integer(0, U32_MAX)
    if v is not None and v > U32_MAX - ctx.tiebreak_room:
        c.error(
            f"local_pref {v} leaves no room for the cost tie-break, which adds up to {ctx.tiebreak_room} "
            f"(one per further egress): at most {U32_MAX - ctx.tiebreak_room}, "
            "or set steering.cost_tiebreak: false"
        )
        return None
    return SetLocalPref(v) if v is not None else None


def _set_med(c: Cursor, ctx: Context) -> Action | None:
    raw = getattr(c.node, "value", None)
    # a relative MED, "+N" or "-N" as written (unquoted -N reads as a negative integer): the schema knows it too
    c.accepts({"anyOf": [{"type": "string", "pattern": "^[+-][0-9]+$"}, {"type": "integer", "maximum": -1}]})
    if isinstance(raw, str) and raw[:1] in "+-" and raw[1:].isdigit():
        return SetMed(int(raw), relative=True)
    v = c.integer(0, U32_MAX)
    return SetMed(v) if v is not None else None


def _set_community(c: Cursor, ctx: Context) -> Action | None:
    return _communities(c, parse_community, ctx.sets.community, large=False)


def _set_large_community(c: Cursor, ctx: Context) -> Action | None:
    return _communities(c, parse_large_community, ctx.sets.large_community, large=True)


def _set_prepend(c: Cursor, ctx: Context) -> Action | None:
    if not isinstance(getattr(c.node, "value", None), list):
        count = c.integer(1, MAX_PREPEND)
        return Prepend(ctx.local_asn, count) if count is not None else None
    pm = c.mapping({"asn": False, "count": True})
    if not pm or "count" not in pm:
        return None
    asn = pm["asn"].integer(1, U32_MAX) if "asn" in pm else ctx.local_asn
    count = pm["count"].integer(1, MAX_PREPEND)
    return Prepend(asn, count) if asn is not None and count is not None else None


def _set_next_hop(c: Cursor, ctx: Context) -> Action | None:
    text = c.string()
    if text == "egress" or text is None:
        return SetNextHop("egress") if text else None
    try:
        parse_address(text)
    except ValueError as exc:
        c.error(f"{exc}; expected an address or 'egress'")
        return None
    return SetNextHop(text)


MAX_PREPEND = 16
_SET: dict[str, Callable[[Cursor, Context], Action | None]] = {
    "local_pref": _set_local_pref,
    "med": _set_med,
    "community": _set_community,
    "large_community": _set_large_community,
    "as_path_prepend": _set_prepend,
    "next_hop": _set_next_hop,
}


# what a route sent to a cloud session cannot carry (policy.return)
RETURN_REFUSED = {
    "local_pref": "LOCAL_PREF is not sent to a cloud (an eBGP peer): use med or as_path_prepend",
    "next_hop": "the next hop towards a cloud is the session's own local address: it cannot be set",
}


def load_policy(cur: Cursor, name: str, ctx: Context) -> Policy:
    m = cur.mapping({"default": True, "statements": False})
    statements: list[Statement] = []
    default = "reject"
    if m is None:
        return Policy(name, statements, "reject")
    if "default" in m:
        default = m["default"].choice(("accept", "reject")) or "reject"
    seen: dict[str, Cursor] = {}
    if "statements" in m and not m["statements"].is_null:
        for st in m["statements"].items():
            sm = st.mapping({"name": True, "match": False, "set": False, "then": False})
            if sm is None:
                continue
            st_name = sm["name"].string() if "name" in sm else None
            if st_name is not None:
                if st_name in seen:
                    sm["name"].error(f"duplicate statement name {st_name!r}")
                seen[st_name] = sm["name"]
            conditions = _conditions(sm["match"], ctx) if "match" in sm else []
            errors_before = len(st.issues.items)
            actions = _actions(sm["set"], ctx) if "set" in sm else []
            actions_failed = len(st.issues.items) > errors_before
            then = (sm["then"].choice(("accept", "reject", "next")) if "then" in sm else "next") or "next"
            if then == "reject" and actions:
                st.error("a statement that rejects has no use for 'set' actions")
            # actions in error are errors of their own already: the statement is not also said to do nothing
            if then == "next" and not actions and not actions_failed:
                st.error("a statement with 'then: next' and no 'set' actions does nothing")
            statements.append(Statement(st_name or "?", tuple(conditions), tuple(actions), then))  # type: ignore[arg-type]
    return Policy(name, statements, default)  # type: ignore[arg-type]
