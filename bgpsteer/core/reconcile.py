"""Reconciling with what ExaBGP still holds from an earlier run of the helper.

ExaBGP keeps a helper's announcements in its adj-RIB-out across helper
restarts.  On start the agent asks ExaBGP for that table (text lines of
`show adj-rib out extensive`), relearns the cloud routes, and after a settle
period withdraws whatever ExaBGP holds that the new decisions do not want.
Nothing is withdrawn early, so a restart causes no flap on the core.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from bgpsteer.core.events import Withdraw

Held = tuple[str, str, int]  # (neighbor address, prefix, path id)


def parse_held(line: str) -> Held | None:
    """Parse one `show adj-rib out extensive` line; None if it is not a unicast route.

    e.g. 'neighbor 10.0.0.2 local-ip ... ipv4 unicast 10.1.0.0/24 path-information 0.0.0.1 next-hop 10.255.0.1 ...'
    """
    words = line.split()
    if "unicast" not in words or len(words) < 4:
        return None
    i = words.index("unicast")
    if i < 2 or i + 1 >= len(words) or words[i - 1] not in ("ipv4", "ipv6"):
        return None
    # 'neighbor ADDR local-ip ... ipv4 unicast PREFIX ...' (extensive) or 'ADDR ipv4 unicast PREFIX ...'
    neighbor = words[1] if words[0] == "neighbor" else words[0]
    prefix = words[i + 1]
    if "/" not in prefix:
        return None
    path_id = 0
    if "path-information" in words:
        raw = words[words.index("path-information") + 1]
        try:
            path_id = int(raw) if raw.isdigit() else sum(int(o) << (8 * (3 - i)) for i, o in enumerate(raw.split(".")))
        except ValueError:
            return None
    return neighbor, prefix, path_id


def stale(held: Iterable[Held], wanted: set[tuple[str, int]], neighbors: set[str]) -> dict[str, list[Withdraw]]:
    """Withdrawals per neighbor for held routes that are not wanted (any longer)."""
    groups: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    for neighbor, prefix, pid in held:
        if neighbor in neighbors and (prefix, pid) not in wanted:
            groups[(neighbor, 6 if ":" in prefix else 4, pid)].append(prefix)
    out: dict[str, list[Withdraw]] = defaultdict(list)
    for (neighbor, afi, pid), prefixes in groups.items():
        out[neighbor].append(Withdraw(afi, pid, prefixes))
    return dict(out)
