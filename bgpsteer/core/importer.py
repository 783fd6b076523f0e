"""Import stage: RFC 7454 safety checks, then the import policy, cached.

A verdict depends only on (peer, attribute set, and the prefix class: family,
safety outcome and policy signature; see classify.py).  Caching on
that key makes the per-route cost a parse, a few set lookups and one dict hit.
"""

from __future__ import annotations

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.bounded import BoundedCache
from bgpsteer.core.classify import PrefixClass
from bgpsteer.core.model import FAMILY_AFI, IPV4, IPV6, CloudPeer, Egress, Safety
from bgpsteer.core.policy import Policy, RouteView, Verdict
from bgpsteer.core.prefix import (
    BITS,
    MARTIAN_NEXT_HOP,
    PRIVATE_SET,
    SPECIAL_PURPOSE_SET,
    SPECIAL_PURPOSE_V4_FIRST_OCTETS,
    ParsedPrefix,
    parse_address,
)

CACHE_SIZE = 4096  # verdicts per generation (bounded.py); a table load reuses a few hundred attribute sets
NEXT_HOP_CACHE_SIZE = 1024  # next-hop safety outcomes per generation
REJECTIONS_SIZE = 256  # shared rejection verdicts per generation


def _reject(reason: str) -> Verdict:
    return Verdict(False, None, (reason,))


class ImportStage:
    def __init__(self, policy: Policy, safety: Safety, local_asn: int | None = None) -> None:
        self.policy = policy
        self.safety = safety
        self.local_asn = local_asn  # a route whose AS path holds it is a loop (our own announcement, returned)
        # keyed by id(attrs): Attrs are interned, and hashing a dataclass per route is costly;
        # the entry keeps the Attrs alive so its id cannot be reused while cached
        self.cache: BoundedCache[tuple[object, ...], tuple[Attrs, Verdict]] = BoundedCache(CACHE_SIZE)
        self.nh_cache: BoundedCache[str, tuple[str | None]] = BoundedCache(NEXT_HOP_CACHE_SIZE)
        self.rejections: BoundedCache[str, Verdict] = BoundedCache(REJECTIONS_SIZE)
        self.errors = 0  # policy evaluation errors (fail closed)
        self._afis: dict[str, frozenset[int]] = {}

    def _rejection(self, reason: str) -> Verdict:
        # one shared Verdict per distinct reason keeps rejected routes cheap
        v = self.rejections.get(reason)
        if v is None:
            v = _reject(reason)
            self.rejections.put(reason, v)
        return v

    def prefix_safety(self, p: ParsedPrefix) -> str | None:
        s = self.safety
        afi, _, length = p
        if length == 0:
            return None if s.allow_default else "import safety: default route rejected (allow_default is false)"
        limit = s.max_length_v4 if afi == IPV4 else s.max_length_v6
        if length > limit:
            return f"import safety: too specific, /{length} is longer than /{limit}"
        if (
            s.reject_special_purpose
            and (afi == IPV6 or (p[1] >> 24) in SPECIAL_PURPOSE_V4_FIRST_OCTETS)
            and p in SPECIAL_PURPOSE_SET
        ):
            match = SPECIAL_PURPOSE_SET.match(p)
            return f"import safety: special-purpose prefix (inside {match.prefix_text() if match else '?'})"
        if s.reject_private and p in PRIVATE_SET:
            return "import safety: private prefix (reject_private is true)"
        return None

    def next_hop_safety(self, next_hop: str) -> str | None:
        hit = self.nh_cache.get(next_hop)
        if hit is not None:
            return hit[0]
        reason: str | None = None
        try:
            afi, value = parse_address(next_hop)
            bits = BITS[afi]
            if self.safety.reject_martian_next_hop and (afi, value, bits) in MARTIAN_NEXT_HOP:
                reason = f"import safety: martian next-hop {next_hop}"
        except ValueError:
            reason = f"invalid next-hop {next_hop!r}"
        self.nh_cache.put(next_hop, (reason,))
        return reason

    def evaluate(
        self,
        peer: CloudPeer,
        egress: Egress,
        parsed: ParsedPrefix,
        kid: int,
        pc: PrefixClass,
        prefix: str,
        attrs: Attrs,
    ) -> Verdict:
        """The verdict on one route; ``kid``/``pc`` are its prefix's class (see classify.py)."""
        key = (peer.name, id(attrs), kid)
        hit = self.cache.get(key)
        if hit is not None and hit[0] is attrs:
            return hit[1]
        verdict = self._evaluate(peer, egress, parsed, pc, prefix, attrs)
        if verdict.error:
            self.errors += 1  # errors are not cached: each failing route is counted
            return verdict
        self.cache.put(key, (attrs, verdict))  # the entry keeps attrs alive, so its id is not reused meanwhile
        return verdict

    def _evaluate(
        self, peer: CloudPeer, egress: Egress, parsed: ParsedPrefix, pc: PrefixClass, prefix: str, attrs: Attrs
    ) -> Verdict:
        if pc.safety is not None:
            return self._rejection(pc.safety)
        afis = self._afis.get(peer.name)
        if afis is None:
            afis = self._afis[peer.name] = frozenset(FAMILY_AFI[f] for f in peer.families)
        if parsed[0] not in afis:
            return self._rejection(f"family ipv{parsed[0]} not configured for peer {peer.name}")
        if self.local_asn is not None and self.local_asn in attrs.as_path:
            # RFC 4271 9.1.2: a cloud gateway that re-advertises what bgpsteer told its other session (the site's
            # prefixes, the return path) must not become a path out of the site
            return self._rejection(f"import safety: AS path loop (contains our AS {self.local_asn})")
        reason = self.next_hop_safety(attrs.next_hop)
        if reason is not None:
            return self._rejection(reason)
        egress_nh = egress.next_hop_for(parsed[0])
        if egress_nh is None:
            return self._rejection(f"egress {egress.id} has no IPv6 next-hop (next_hop6) for an IPv6 route")
        verdict = self.policy.evaluate(RouteView(parsed, prefix, peer, egress, attrs))
        if verdict.accepted and verdict.attrs is not None and verdict.attrs.next_hop == attrs.next_hop:
            # the egress's next-hop replaces the cloud peer's unless policy chose one
            verdict = Verdict(True, verdict.attrs.evolve(next_hop=egress_nh), verdict.trace)
        return verdict
