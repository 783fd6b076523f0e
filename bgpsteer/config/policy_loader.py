"""Builds named sets and policies from the `sets` and `policy` sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import SequenceNode

from bgpsteer.config.nodes import Cursor
from bgpsteer.core.attrs import Community, LargeCommunity, parse_community, parse_large_community
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
    "prefix": False, "prefix_length": False, "family": False, "peer": False, "egress": False,
    "provider": False, "region": False, "jurisdiction": False, "egress_region": False,
    "community": False, "large_community": False, "as_path_regex": False, "as_path_contains": False,
    "as_path_length": False, "origin": False,
}
SET_KEYS = {"local_pref": False, "med": False, "community": False, "large_community": False, "as_path_prepend": False, "next_hop": False}


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
    for kind, parse in (("prefix", parse_range), ("community", parse_community), ("large_community", parse_large_community)):
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
        ref.error(f"undefined {kind} set {name!r}" + (f"; defined: {', '.join(sorted(table))}" if table else "; none are defined under sets"))
        return None
    return name, table[name], mode


def _conditions(cur: Cursor, ctx: Context) -> list[Condition]:
    m = cur.mapping(MATCH_KEYS)
    if m is None:
        return []
    out: list[Condition] = []
    peers = {p.name for p in ctx.peers}
    egresses = {e.id for e in ctx.egresses}
    known = {
        "peer": peers,
        "egress": egresses,
        "provider": {p.provider for p in ctx.peers},
        "region": {p.region for p in ctx.peers},
        "jurisdiction": {e.jurisdiction for e in ctx.egresses},
        "egress_region": {e.region for e in ctx.egresses},
    }
    for key, c in m.items():
        if key == "prefix":
            ref = _set_ref(c, ctx.sets.prefix, "prefix", ("any", "invert"))
            if ref:
                out.append(PrefixIn(ref[1], invert=ref[2] == "invert"))
        elif key == "prefix_length":
            r = _range(c, 128)
            if r:
                out.append(PrefixLength(*r))
        elif key == "family":
            fam = c.choice(("ipv4", "ipv6"))
            if fam:
                out.append(FamilyIs(FAMILY_AFI[fam]))
        elif key in known:
            values = _names(c)
            if values is not None:
                unknown = sorted(values - known[key] - ctx.shadow.get(key, set()))
                if unknown:
                    c.error(f"no {key.replace('_', ' ')} named {', '.join(map(repr, unknown))} is configured; known: {', '.join(sorted(known[key])) or 'none'}")
                else:
                    out.append(FieldIn(key, values))  # type: ignore[arg-type]
        elif key == "community":
            ref = _set_ref(c, ctx.sets.community, "community", ("any", "all", "invert"))
            if ref:
                out.append(CommunityMatch(ref[0], ref[1], ref[2]))  # type: ignore[arg-type]
        elif key == "large_community":
            ref = _set_ref(c, ctx.sets.large_community, "large_community", ("any", "all", "invert"))
            if ref:
                out.append(LargeCommunityMatch(ref[0], ref[1], ref[2]))  # type: ignore[arg-type]
        elif key == "as_path_regex":
            text = c.string()
            if text is not None:
                try:
                    out.append(AsPathRegex(text, compile_as_path_regex(text)))
                except Exception as exc:  # noqa: BLE001 - re.error and friends
                    c.error(f"invalid regular expression: {exc}")
        elif key == "as_path_contains":
            asns = [v for v in (x.integer(1, 0xFFFFFFFF) for x in c.items(allow_scalar=True)) if v is not None]
            if asns:
                out.append(AsPathContains(frozenset(asns)))
        elif key == "as_path_length":
            r = _range(c, 255)
            if r:
                out.append(AsPathLength(*r))
        elif key == "origin":
            origins = [v for v in (x.choice(("igp", "egp", "incomplete")) for x in c.items(allow_scalar=True)) if v is not None]
            if origins:
                out.append(OriginIs(frozenset(origins)))
    return out


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
                item.error(str(exc) + (f" (or the name of a defined {'large_' if large else ''}community set)" if key == "remove" else ""))
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
        if key == "local_pref":
            v = c.integer(0, 0xFFFFFFFF)
            if v is not None and v > 0xFFFFFFFF - ctx.tiebreak_room:
                c.error(f"local_pref {v} leaves no room for the cost tie-break, which adds up to {ctx.tiebreak_room} "
                        f"(one per further egress): at most {0xFFFFFFFF - ctx.tiebreak_room}, or set steering.cost_tiebreak: false")
            elif v is not None:
                out.append(SetLocalPref(v))
        elif key == "med":
            raw = getattr(c.node, "value", None)
            # a relative MED, "+N" or "-N" as written (unquoted -N reads as a negative integer): the schema knows it too
            c.accepts({"anyOf": [{"type": "string", "pattern": "^[+-][0-9]+$"}, {"type": "integer", "maximum": -1}]})
            if isinstance(raw, str) and raw[:1] in "+-" and raw[1:].isdigit():
                out.append(SetMed(int(raw), relative=True))
            else:
                v = c.integer(0, 0xFFFFFFFF)
                if v is not None:
                    out.append(SetMed(v))
        elif key == "community":
            a = _communities(c, parse_community, ctx.sets.community, large=False)
            if a:
                out.append(a)
        elif key == "large_community":
            a = _communities(c, parse_large_community, ctx.sets.large_community, large=True)
            if a:
                out.append(a)
        elif key == "as_path_prepend":
            if isinstance(getattr(c.node, "value", None), list):
                pm = c.mapping({"asn": False, "count": True})
                if pm and "count" in pm:
                    asn = pm["asn"].integer(1, 0xFFFFFFFF) if "asn" in pm else ctx.local_asn
                    count = pm["count"].integer(1, 16)
                    if asn is not None and count is not None:
                        out.append(Prepend(asn, count))
            else:
                count = c.integer(1, 16)
                if count is not None:
                    out.append(Prepend(ctx.local_asn, count))
        elif key == "next_hop":
            text = c.string()
            if text == "egress":
                out.append(SetNextHop("egress"))
            elif text is not None:
                try:
                    parse_address(text)
                    out.append(SetNextHop(text))
                except ValueError as exc:
                    c.error(f"{exc}; expected an address or 'egress'")
    return out


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
            actions = _actions(sm["set"], ctx) if "set" in sm else []
            then = (sm["then"].choice(("accept", "reject", "next")) if "then" in sm else "next") or "next"
            if then == "reject" and actions:
                st.error("a statement that rejects has no use for 'set' actions")
            if then == "next" and not actions:
                st.error("a statement with 'then: next' and no 'set' actions does nothing")
            statements.append(Statement(st_name or "?", tuple(conditions), tuple(actions), then))  # type: ignore[arg-type]
    return Policy(name, statements, default)  # type: ignore[arg-type]
