"""The return path: what the site announces to each cloud session, so the cloud answers through the egress its
requests left by (a stateful security stack drops replies that come back through another).

For each cloud (its sessions through several egresses: ``CloudPeer.group``):

1. **The egress to come back through** follows the outbound decision: the egress the core uses for most of that
   cloud's prefixes (each prefix's core ranking, ``core/ranking.py``, counted once per ranking; only egresses in
   service count).  Application classes do not change it: a reply is addressed to a site prefix, which carries no
   class, so the return path follows the default sessions' decision.
2. **Each session is told** the site's prefixes with the provider's knob (``core/providers.py``): the preferred
   session a lower MED or no prepend, the others a higher MED or our AS prepended.
3. **Fast failover** (``site.split``): while one of the cloud's egresses is out of service, the preferred
   session also carries the halves of each site prefix.  The cloud takes the longest prefix before anything
   else, so the halves win even when the failed egress's session still looks up and what was sent over it
   (its withdrawal, a worse MED) never arrives.  The out-of-service egress's session is sent nothing.
4. **Compliance**: a site prefix bound to jurisdictions (a compliance rule covers it) is never announced on a
   session whose egress lies outside them, so data bound to the EU never returns through a UK egress.
5. **The return policy** (``policy.return``, the policy language of core/policy.py): applied last to each
   route, per session; it may set MED, prepend, communities, or reject a route (left out, with its trace).
6. **Route limits**: never more routes on a session than its limit (the peer's ``max_routes``, else the
   provider's).  Halves are left out first, then whole prefixes from the end of ``site.prefixes``, then of the
   learned ones (core/sitelearn.py): the list's order is the priority.

If every egress of a cloud (allowed for a prefix) is out of service, the prefix is announced on all of them as
if all were in service (fail static: withdrawing would cut the cloud off from the site altogether).

Pure: the caller passes the egresses in service and the outbound counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.model import CloudPeer, Compliance, Egress, Site
from bgpsteer.core.policy import Policy, RouteView
from bgpsteer.core.prefix import BITS, ParsedPrefix, format_prefix, parse_prefix
from bgpsteer.core.providers import Offer, Provider, prefers, profile

Order = tuple[str, ...]  # a prefix's egresses in the order the core ranks them


@dataclass(frozen=True)
class Route:
    attrs: Attrs
    role: str  # preferred | backup | half | fail static
    why: str
    trace: tuple[str, ...] = ()  # the return policy's statements it passed through


@dataclass(frozen=True)
class CloudPlan:
    """One cloud's return path."""

    name: str
    provider: str
    egresses: tuple[str, ...]  # of its sessions, in outbound preference
    preferred: str | None  # the egress it should answer through (None: none in service)
    why: str
    split: bool  # halves on the preferred session (an egress of this cloud is out of service)
    peers: tuple[str, ...]  # its sessions' addresses
    # site prefixes the cloud does not answer through its outbound egress, by its provider's order over what its
    # sessions are sent (compliance, a route limit, the return policy, no egress in service): their replies come
    # back another way, or not at all
    asymmetric: tuple[str, ...] = ()


@dataclass
class ReturnPlan:
    clouds: dict[str, CloudPlan] = field(default_factory=dict)
    routes: dict[str, dict[str, Route]] = field(default_factory=dict)  # peer address -> prefix -> route
    left_out: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # peer address -> (prefix, why)
    prefixes: tuple[str, ...] = ()  # the site's prefixes in priority order: ``site.prefixes``, then learned ones


def limit(peer: CloudPeer) -> int | None:
    """The most routes announced on this session: the peer's own limit, capped by its provider's."""
    known = [n for n in (peer.max_routes, profile(peer.provider).max_routes) if n is not None]
    return min(known) if known else None


def wire_path_length(attrs: Attrs) -> int:
    """The AS path length the cloud receives: ExaBGP adds our AS to an empty path, and sends a given one as is."""
    return len(attrs.as_path) or 1


def halves(prefix: str) -> list[str]:
    """The two more-specifics of a prefix (none for a host route)."""
    afi, net, length = parse_prefix(prefix)
    bits = BITS[afi]
    if length >= bits:
        return []
    step = 1 << (bits - length - 1)
    return [format_prefix((afi, net, length + 1)), format_prefix((afi, net + step, length + 1))]


def allowed_for(parsed: ParsedPrefix, rules: tuple[Compliance, ...]) -> tuple[frozenset[str] | None, list[str]]:
    """The jurisdictions a site prefix may return through (None: any), and the rules that bind it."""
    allowed: frozenset[str] | None = None
    bound: list[str] = []
    for rule in rules:
        if parsed in rule.prefixes:
            bound.append(rule.name)
            allowed = rule.jurisdictions if allowed is None else allowed & rule.jurisdictions
    return allowed, bound


def clouds_of(site: Site, peers: tuple[CloudPeer, ...]) -> dict[str, list[CloudPeer]]:
    """The clouds the site is announced to (all, or ``site.clouds``), each with its sessions in config order."""
    clouds: dict[str, list[CloudPeer]] = {}
    for p in peers:
        if not site.clouds or p.group in site.clouds:
            clouds.setdefault(p.group, []).append(p)
    return clouds


def cloud_order(peers: list[CloudPeer], counts: Counter[Order], usable: Callable[[str], bool]) -> tuple[Order, str]:
    """A cloud's egresses, the one most of its prefixes leave by first (only egresses in service vote); the
    reason in words."""
    own = [p.egress for p in peers]
    votes: Counter[str] = Counter()
    for order, n in counts.items():
        first = next((e for e in order if e in own and usable(e)), None)
        if first is not None:
            votes[first] += n
    if not votes:
        return tuple(dict.fromkeys(own)), "no prefix of this cloud leaves through an egress in service: config order"
    ranked = sorted(dict.fromkeys(own), key=lambda e: (-votes[e], own.index(e)))
    total = sum(votes.values())
    top = ranked[0]
    return tuple(ranked), f"{votes[top]} of its {total} prefixes leave through {top}"


def plan(
    config: Config, usable: Callable[[str], bool], outbound: Mapping[str, Counter[Order]], learned: tuple[str, ...] = ()
) -> ReturnPlan:
    """What each cloud session is sent.  ``outbound``: per cloud, how many of its prefixes the core ranks in each
    order; ``usable``: whether an egress is in service (the default sessions' view); ``learned``: site prefixes
    learned from the core routers (core/sitelearn.py), after ``site.prefixes`` in priority."""
    site = config.site
    if site is None:
        return ReturnPlan()
    prefixes = site.prefixes + tuple(p for p in learned if p not in site.prefixes)
    out = ReturnPlan(prefixes=prefixes)
    egresses = {e.id: e for e in config.egresses}
    bound = {prefix: allowed_for(parse_prefix(prefix), config.compliance) for prefix in prefixes}
    for name, members in clouds_of(site, config.cloud_peers).items():
        order, why = cloud_order(members, outbound.get(name, Counter()), usable)
        live = [e for e in order if usable(e)]
        split = site.split and bool(live) and len(live) < len(set(order))
        provider = profile(members[0].provider)
        ctx = _Cloud(
            site,
            prefixes,
            provider,
            order,
            usable,
            egresses,
            bound,
            config.agent.local_asn,
            split,
            config.return_policy,
        )
        for peer in members:
            routes, left = _session(ctx, peer)
            out.routes[peer.address] = routes
            out.left_out[peer.address] = left
        preferred = live[0] if live else None
        asymmetric = tuple(p for p in prefixes if picks(provider, members, out.routes, p) != [preferred])
        out.clouds[name] = CloudPlan(
            name, provider.name, order, preferred, why, split, tuple(p.address for p in members), asymmetric
        )
    return out


def picks(
    provider: Provider, members: list[CloudPeer], routes: Mapping[str, Mapping[str, Route]], prefix: str
) -> list[str]:
    """The egresses a cloud answers a whole site prefix through, by its provider's order over what each of its
    sessions is sent for that prefix (several: ECMP, or a tie the gateway breaks its own way)."""
    offers: dict[str, Offer] = {}
    length = parse_prefix(prefix)[2]
    for p in members:
        r = routes.get(p.address, {}).get(prefix)
        if r is not None:
            offers[p.egress] = (length, r.attrs.med or 0, wire_path_length(r.attrs))
    return prefers(provider, offers)


@dataclass(frozen=True)
class _Cloud:
    """What every session of one cloud is planned from."""

    site: Site
    prefixes: tuple[str, ...]  # the site's, learned ones included
    provider: Provider
    order: Order
    usable: Callable[[str], bool]
    egresses: Mapping[str, Egress]
    bound: Mapping[str, tuple[frozenset[str] | None, list[str]]]
    local_asn: int
    split: bool
    policy: Policy | None


def _session(ctx: _Cloud, peer: CloudPeer) -> tuple[dict[str, Route], list[tuple[str, str]]]:
    """One session's routes (within its limit) and what is left out, with why."""
    site, provider, order, usable, egresses, bound = (
        ctx.site,
        ctx.provider,
        ctx.order,
        ctx.usable,
        ctx.egresses,
        ctx.bound,
    )
    jurisdiction = egresses[peer.egress].jurisdiction if peer.egress in egresses else ""
    nh = peer.local_address or "self"
    best = Attrs(next_hop=nh, med=site.preferred_med if provider.knob == "med" else None, communities=site.communities)
    worse = Attrs(
        next_hop=nh,
        med=site.backup_med if provider.knob == "med" else None,
        # ExaBGP sends an explicit AS path as given (it adds our AS only to an empty one): ours once, plus prepend
        as_path=(ctx.local_asn,) * (site.prepend + 1) if provider.knob == "prepend" else (),
        communities=site.communities,
    )
    knob = f"MED {site.backup_med}" if provider.knob == "med" else f"AS path prepended {site.prepend}x"
    wholes: list[tuple[str, Route]] = []
    extra: list[tuple[str, Route]] = []
    left: list[tuple[str, str]] = []
    for prefix in ctx.prefixes:
        allowed, rules = bound[prefix]
        if allowed is not None and jurisdiction not in allowed:
            left.append(
                (prefix, f"compliance: {jurisdiction} not in [{', '.join(sorted(allowed))}] ({', '.join(rules)})")
            )
            continue
        mine = [e for e in order if allowed is None or egresses[e].jurisdiction in allowed]
        live = [e for e in mine if usable(e)]
        if not live:
            wholes.append((prefix, Route(worse, "fail static", "no allowed egress of this cloud in service")))
            continue
        if peer.egress not in live:
            left.append((prefix, f"egress {peer.egress} out of service: the cloud answers through {live[0]}"))
            continue
        if peer.egress == live[0]:
            wholes.append((prefix, Route(best, "preferred", f"the cloud answers through {peer.egress}")))
            if ctx.split:
                for half in halves(prefix):
                    extra.append((half, Route(best, "half", "fast failover: a more-specific wins at the cloud")))
        else:
            wholes.append((prefix, Route(worse, "backup", f"backup ({knob}): the cloud answers through {live[0]}")))
    return _admitted(ctx, peer, [*wholes, *extra], left), left


def _admitted(
    ctx: _Cloud, peer: CloudPeer, candidates: list[tuple[str, Route]], left: list[tuple[str, str]]
) -> dict[str, Route]:
    """The candidates, in order, through the return policy and within the session's limit (the rest into ``left``)."""
    cap = limit(peer)
    routes: dict[str, Route] = {}
    for prefix, route in candidates:
        if prefix in routes:
            continue  # a half that is also a site prefix of its own
        if ctx.policy is not None:
            passed = _exported(ctx, peer, prefix, route)
            if isinstance(passed, str):
                left.append((prefix, passed))
                continue
            route = passed
        if cap is not None and len(routes) >= cap:
            left.append((prefix, f"route limit {cap} of this session reached"))
            continue
        routes[prefix] = route
    return routes


def _exported(ctx: _Cloud, peer: CloudPeer, prefix: str, route: Route) -> Route | str:
    """A route through the return policy: as it leaves, or why it does not."""
    assert ctx.policy is not None
    egress = ctx.egresses.get(peer.egress)
    if egress is None:
        return route
    verdict = ctx.policy.evaluate(RouteView(parse_prefix(prefix), prefix, peer, egress, route.attrs))
    if not verdict.accepted or verdict.attrs is None:
        return f"{ctx.policy.name} policy: {verdict.reason}"
    attrs = verdict.attrs
    if not route.attrs.as_path and attrs.as_path:
        # ExaBGP adds our AS only to an empty path: a prepend onto the implicit path must carry our AS itself
        attrs = attrs.evolve(as_path=(*attrs.as_path, ctx.local_asn))
    return Route(attrs, route.role, route.why, verdict.trace)
