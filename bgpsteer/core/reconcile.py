"""Reconciling with what ExaBGP still holds from an earlier run of the helper.

ExaBGP keeps a helper's announcements in its adj-RIB-out across helper
restarts.  On start the agent asks ExaBGP for that table (``show adj-rib out
extensive``: the codec decodes each line into a ``HeldRoute``), relearns the
cloud routes (route refresh), and withdraws whatever ExaBGP holds that the new
decisions do not want — but a held path is judged only once the cloud peers of
its egress are *ready*, so a restart flaps nothing on the core:

- a peer is ready at its End-of-RIB for every configured family (a session that
  comes up fresh sends one);
- or when it has been quiet for ``settle`` seconds after sending routes since its
  route refresh went out (or its session came up): a refresh is answered without
  End-of-RIB unless the peer does RFC 7313, and what it sent before the refresh
  (a withdraw, say) says nothing about its table;
- or when its session is known not to be up (nothing will come from it);
- or, whatever else, ``ready_timeout`` seconds after start (a silent peer cannot
  hold stale paths forever).

A dump that arrives late is still reconciled: judging starts only once the dump
is complete (its ack), however long that takes.  Pure: time comes in as ``now``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bgpsteer.core.events import Withdraw
from bgpsteer.core.family import afi_of

SETTLE = 5.0  # seconds of quiet after a peer's last route before its table counts as complete
READY_TIMEOUT = 60.0  # seconds after start when every peer counts as ready, End-of-RIB or not

Held = tuple[str, str, int]  # (neighbor address, prefix, path id)


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """What reconcile needs to know of one cloud peer since start."""

    egress: str
    families: frozenset[int]
    state: str  # ExaBGP session state as far as known: up | down | connected | idle (unknown)
    state_known: bool
    eor: frozenset[int]
    last_heard: float | None  # time of its last route or withdraw since start
    relearn_from: float | None = None  # since when it is sending its table (session up, or route refresh sent)
    name: str = ""  # the peer's name, for logs
    refreshing: frozenset[int] = frozenset()  # families it is re-sending (RFC 7313 BoRR seen, EoRR not yet)
    refreshed: frozenset[int] = frozenset()  # families whose re-advertisement has ended (EoRR) since relearn_from


UNICAST_AT_LEAST = 2  # 'ADDR ipv4 unicast PREFIX': an address and a family come before 'unicast'


def parse_held(line: str) -> Held | None:
    """Parse one `show adj-rib out extensive` line; None if it is not a unicast route.

    e.g. 'neighbor 10.0.0.2 local-ip ... ipv4 unicast 10.1.0.0/24 path-information 0.0.0.1 next-hop 10.255.0.1 ...'
    """
    words = line.split()
    if "unicast" not in words:
        return None
    i = words.index("unicast")
    if i < UNICAST_AT_LEAST or i + 1 >= len(words) or words[i - 1] not in ("ipv4", "ipv6"):
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
            # ExaBGP prints the 32-bit path id as a dotted quad, most significant byte first
            path_id = int(raw) if raw.isdigit() else sum(int(o) << (8 * (3 - n)) for n, o in enumerate(raw.split(".")))
        except ValueError:
            return None
    return neighbor, prefix, path_id


DOWN_GRACE = 30.0  # seconds a cloud session not up at start is waited for (bounded: less than READY_TIMEOUT)


def peer_ready(
    p: PeerProgress, now: float, started: float, settle: float = SETTLE, timeout: float = READY_TIMEOUT
) -> str | None:
    """Why the peer's table counts as complete, or None while it does not yet."""
    if now - started >= timeout:
        return f"{timeout:g}s since start"
    if p.families <= p.eor:
        return "End-of-RIB"
    if p.state_known and p.state != "up" and (p.relearn_from is not None or now - started >= DOWN_GRACE):
        # a session that went down has no table to wait for; one not up yet at start is usually connecting (ExaBGP
        # itself just started): waited for a while, or End-of-RIB would reach the core before its routes
        return f"session {p.state}"
    if p.families <= p.refreshed:
        return "End-of-Route-Refresh"
    if p.refreshing:
        # the peer said it is re-sending (BoRR): a pause in its UPDATEs is not the end of its table (measured: BIRD
        # sent its last 16 prefixes 2.2 s after the rest), only its EoRR is
        return None
    # quiet after sending its table: what it sent before the refresh went out (a withdraw, say) does not count
    if (
        p.last_heard is not None
        and p.relearn_from is not None
        and p.last_heard >= p.relearn_from
        and now - p.last_heard >= settle
    ):
        return f"quiet for {settle:g}s after its routes"
    return None


def stale(held: Iterable[Held], wanted: set[tuple[str, int]], neighbors: set[str]) -> dict[str, list[Withdraw]]:
    """Withdrawals per neighbor for held routes that are not wanted (any longer)."""
    groups: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    for neighbor, prefix, pid in held:
        if neighbor in neighbors and (prefix, pid) not in wanted:
            groups[(neighbor, afi_of(prefix), pid)].append(prefix)
    out: dict[str, list[Withdraw]] = defaultdict(list)
    for (neighbor, afi, pid), prefixes in groups.items():
        out[neighbor].append(Withdraw(afi, pid, prefixes))
    return dict(out)


def stale_toward(held: Iterable[Held], wanted: Mapping[str, Mapping[str, object]]) -> dict[str, list[Withdraw]]:
    """Withdrawals per cloud session for held routes its return path does not want (no path ids there)."""
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for neighbor, prefix, _ in held:
        if prefix not in wanted.get(neighbor, {}):
            groups[(neighbor, afi_of(prefix))].append(prefix)
    out: dict[str, list[Withdraw]] = defaultdict(list)
    for (neighbor, afi), prefixes in groups.items():
        out[neighbor].append(Withdraw(afi, 0, sorted(prefixes), peer=neighbor))
    return dict(out)


class Reconciler:
    """The held table of an earlier run, judged egress by egress as their peers become ready."""

    def __init__(self, started: float, settle: float = SETTLE, timeout: float = READY_TIMEOUT) -> None:
        self.started = started
        self.settle = settle
        self.timeout = timeout
        self.held: list[Held] = []
        self.cloud_held: list[Held] = []  # what ExaBGP holds towards cloud sessions: the return path's, judged last
        self.dump_done = False
        self.checked = 0
        self.withdrawn = 0

    def add(self, route: Held) -> None:
        self.held.append(route)

    def readiness(self, peers: Iterable[PeerProgress], now: float) -> dict[str, str | None]:
        """Peer name -> why its table counts as complete (None: not yet)."""
        return {p.name: peer_ready(p, now, self.started, self.settle, self.timeout) for p in peers}

    def waiting_egresses(self, peers: Iterable[PeerProgress], now: float) -> frozenset[str]:
        """Egresses with a cloud peer that is not ready yet (an egress without peers is never waited for)."""
        return frozenset(p.egress for p in peers if peer_ready(p, now, self.started, self.settle, self.timeout) is None)

    def step(
        self,
        now: float,
        peers: Iterable[PeerProgress],
        egress_of: Mapping[int, str],
        wanted: set[tuple[str, int]],
        cores: set[str],
        clouds: frozenset[str] = frozenset(),
    ) -> dict[str, list[Withdraw]] | None:
        """Withdrawals for held paths whose egress is ready and that are not wanted; None until the dump is complete.

        A held path with a path id no egress has (any more) is judged at once."""
        if not self.dump_done:
            return None
        waiting_for = self.waiting_egresses(peers, now)
        judged: list[Held] = []
        waiting: list[Held] = []
        for h in self.held:  # one pass: this can be every route ExaBGP held
            if h[0] in clouds:
                self.cloud_held.append(h)  # judged against the return path once every peer is ready
                continue
            egress = egress_of.get(h[2])
            (waiting if egress is not None and egress in waiting_for else judged).append(h)
        self.held = waiting
        self.checked += len(judged)
        out = stale(judged, wanted, cores)
        self.withdrawn += sum(len(w.prefixes) for ws in out.values() for w in ws)
        return out

    @property
    def done(self) -> bool:
        return self.dump_done and not self.held
