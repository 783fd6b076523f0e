"""Why a cloud answers the site through an egress: the return path explained (core/returnpath.py decides).

For a site address or prefix: per cloud, what each of its sessions is sent that covers it (or why nothing), and
the session the cloud picks by its provider's documented order (core/providers.py ``prefers``: the longest prefix,
then the provider's attributes).  For a cloud prefix: the egress its cloud is told to answer through, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bgpsteer.core.config import Config
from bgpsteer.core.prefix import covers, parse_prefix
from bgpsteer.core.providers import Offer, prefers, profile
from bgpsteer.core.returnpath import ReturnPlan, limit, wire_path_length


def _target(text: str) -> tuple[int, int, int]:
    return parse_prefix(text if "/" in text else f"{text}/{32 if ':' not in text else 128}")


def site_prefix(config: Config, plan: ReturnPlan, target: str) -> str | None:
    """The most specific site prefix (listed or learned) that covers an address or prefix (None: not the site's)."""
    if config.site is None:
        return None
    t = _target(target)
    covering = [p for p in plan.prefixes or config.site.prefixes if covers(parse_prefix(p), t)]
    return max(covering, key=lambda p: parse_prefix(p)[2]) if covering else None


def explain_site(
    config: Config, plan: ReturnPlan, target: str, origin: Callable[[str], str | None] = lambda _: None
) -> dict[str, Any] | None:
    """Per cloud and session, the routes covering ``target`` and the session the cloud uses for it.  ``origin``:
    where a learned site prefix comes from (core/sitelearn.py)."""
    prefix = site_prefix(config, plan, target)
    if prefix is None:
        return None
    t = _target(target)
    clouds = []
    for name, cloud in plan.clouds.items():
        sessions = []
        offers: dict[str, Offer] = {}
        for peer in config.cloud_peers:
            if peer.group != name:
                continue
            routes = plan.routes.get(peer.address, {})
            covering = sorted(
                ((p, r) for p, r in routes.items() if covers(parse_prefix(p), t)),
                key=lambda pr: -parse_prefix(pr[0])[2],
            )
            left = [why for p, why in plan.left_out.get(peer.address, []) if covers(parse_prefix(p), t)]
            if covering:
                p0, r0 = covering[0]
                offers[peer.egress] = (parse_prefix(p0)[2], r0.attrs.med or 0, wire_path_length(r0.attrs))
            sessions.append(
                {
                    "peer": peer.name,
                    "address": peer.address,
                    "egress": peer.egress,
                    "announced": [
                        {
                            "prefix": p,
                            "role": r.role,
                            "med": r.attrs.med,
                            "prepends": wire_path_length(r.attrs) - 1,
                            "communities": [":".join(map(str, c)) for c in r.attrs.communities],
                            "why": r.why,
                            "policy": list(r.trace),
                        }
                        for p, r in covering
                    ],
                    "left_out": left,
                    "routes": len(routes),
                    "limit": limit(peer),
                }
            )
        provider = profile(cloud.provider)
        picks = prefers(provider, offers)
        clouds.append(
            {
                "cloud": name,
                "provider": provider.name,
                "order": ["longest prefix", *provider.order],
                "answers_through": cloud.preferred,
                "why": cloud.why,
                "split": cloud.split,
                "cloud_picks": picks,
                "sessions": sessions,
            }
        )
    listed = config.site is not None and prefix in config.site.prefixes
    source = "listed in site.prefixes" if listed else origin(prefix) or "learned from the core"
    return {"site_prefix": prefix, "target": target, "origin": source, "clouds": clouds}


def return_of(config: Config, plan: ReturnPlan, peer_groups: set[str]) -> list[dict[str, Any]]:
    """For a cloud prefix learned from these clouds: the egress each is told to answer the site through."""
    out = []
    for name in sorted(peer_groups):
        cloud = plan.clouds.get(name)
        if cloud is not None and config.site is not None:
            out.append({"cloud": name, "answers_through": cloud.preferred, "why": cloud.why, "split": cloud.split})
    return out
