"""Site prefixes learned from the core routers (``site.learn``): what the site announces to the clouds follows
what the core routes to the site, so a site network added or removed on the core reaches every cloud without a
bgpsteer config change.

The import filter is deliberately narrow: a learned route is a site prefix only when it lies inside the named
prefix set (and carries one of the named communities, if any are named) and arrives from a core router listed
in ``learn.from``.  What the clouds are told is set by the return path (preferred or
backup, halves, the return policy), not by the core's attributes.

A core session that goes down does not take the site away from the clouds: what it taught is held for
``learn.hold`` seconds (the replies still reach the site through the egress routers while only the route
server's session to the core is gone) and dropped then, unless the session is back and the core has announced it
again.  A restarted helper reads what was learned back from its state file and asks the core for its table
again; what the core's complete table no longer holds is dropped then.  At most ``learn.max`` learned prefixes
are used, the shortest first (then by address): a core that leaks its whole table cannot push the clouds past
their route limits or crowd out ``site.prefixes``.

Pure: updates and the time come in; ``version`` changes whenever the learned set does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.model import SiteLearn
from bgpsteer.core.prefix import parse_prefix


@dataclass
class Hold:
    """One core router's route for a learned prefix."""

    communities: frozenset[tuple[int, int]]
    stale_since: float | None = None  # its session went down then (None: current)
    restored: bool = False  # read back from the state file after a helper restart, not yet announced again


@dataclass
class LearnStats:
    accepted: int = 0  # routes taken as site prefixes (announcements counted, not prefixes)
    refused: int = 0  # routes a core router sent that the filter refused
    last_refused: str = ""  # the last refusal, with why
    expired: int = 0  # prefixes dropped when their hold ran out
    unconfirmed: int = 0  # restored prefixes a core router's re-sent table no longer held


class SiteLearner:
    def __init__(self, learn: SiteLearn, routers: dict[str, str]) -> None:
        """``routers``: the core routers learned from, address -> name."""
        self.learn = learn
        self.routers = dict(routers)
        self.table: dict[str, dict[str, Hold]] = {}  # prefix -> core router name -> its route
        self.stats = LearnStats()
        self.version = 0
        self._ordered: tuple[str, ...] | None = None

    def learns_from(self, address: str) -> bool:
        return address in self.routers

    def reconfigure(self, learn: SiteLearn, routers: dict[str, str]) -> None:
        """A reload: what was learned is kept where the new filter and router list still take it."""
        self.learn, self.routers = learn, dict(routers)
        names = set(routers.values())
        changed = False
        for prefix, holds in list(self.table.items()):
            for name, h in list(holds.items()):
                if name not in names or self._why_not(prefix, h.communities) is not None:
                    del holds[name]
            if not holds:
                del self.table[prefix]
                changed = True
        if changed:
            self._changed()

    def _why_not(self, prefix: str, communities: frozenset[tuple[int, int]]) -> str | None:
        learn = self.learn
        try:
            parsed = parse_prefix(prefix)
        except ValueError as exc:
            return f"{prefix}: {exc}"
        if parsed not in learn.prefixes:
            return f"{prefix} is not in prefix set {learn.prefixes.name}"
        if learn.communities and not learn.communities & communities:
            return f"{prefix} carries none of community set {learn.community_set}"
        return None

    def announced(self, address: str, prefixes: Iterable[str], attrs: Attrs) -> bool:
        """Routes a core router announced; whether the learned set changed."""
        name = self.routers[address]
        tags = frozenset(attrs.communities)
        changed = False
        for prefix in prefixes:
            why = self._why_not(prefix, tags)
            if why is not None:
                changed |= self._drop(prefix, name)  # announced again, no longer taken (a tag removed)
                self.stats.refused += 1
                self.stats.last_refused = f"from {name}: {why}"
                continue
            self.stats.accepted += 1
            holds = self.table.setdefault(prefix, {})
            if not holds:
                changed = True
            holds[name] = Hold(tags)  # current: a stale hold or a restored one ends
        if changed:
            self._changed()
        return changed

    def withdrawn(self, address: str, prefixes: Iterable[str]) -> bool:
        name = self.routers[address]
        changed = False
        for prefix in prefixes:
            changed |= self._drop(prefix, name)
        if changed:
            self._changed()
        return changed

    def session_down(self, address: str, now: float) -> None:
        """Everything this router taught is held stale from now (until announced again or ``hold`` runs out)."""
        name = self.routers[address]
        for holds in self.table.values():
            h = holds.get(name)
            if h is not None and h.stale_since is None:
                h.stale_since = now

    def table_complete(self, address: str) -> list[str]:
        """The router has sent its whole table again (End-of-RIB, or the end of a route refresh): what was restored
        from the state file, or held from before its session went down, and not announced since is gone from the
        core.  The prefixes no router holds now."""
        name = self.routers[address]
        gone = self._sweep(lambda n, h: n == name and (h.restored or h.stale_since is not None))
        self.stats.unconfirmed += len(gone)
        return gone

    def expire(self, now: float) -> list[str]:
        """Drop what was held stale for longer than ``hold``; the prefixes no router holds any more."""
        hold = self.learn.hold
        gone = self._sweep(lambda _, h: h.stale_since is not None and now - h.stale_since >= hold)
        self.stats.expired += len(gone)
        return gone

    def _sweep(self, dead: Callable[[str, Hold], bool]) -> list[str]:
        """Drop the routes ``dead`` names; the prefixes no router holds any more."""
        gone: list[str] = []
        for prefix, holds in list(self.table.items()):
            for name, h in list(holds.items()):
                if dead(name, h):
                    del holds[name]
            if not holds:
                del self.table[prefix]
                gone.append(prefix)
        if gone:
            self._changed()
        return gone

    def _drop(self, prefix: str, name: str) -> bool:
        holds = self.table.get(prefix)
        if holds is None or name not in holds:
            return False
        del holds[name]
        if holds:
            return False
        del self.table[prefix]
        return True

    def _changed(self) -> None:
        self.version += 1
        self._ordered = None

    def ordered(self) -> tuple[str, ...]:
        """Every learned prefix, the shortest first, then by address (the order ``max`` cuts)."""
        if self._ordered is None:
            keyed = sorted((p[0], p[2], p[1], text) for text in self.table for p in (parse_prefix(text),))
            self._ordered = tuple(k[3] for k in keyed)
        return self._ordered

    def _beyond(self, static: tuple[str, ...]) -> list[str]:
        """The learned prefixes not already in ``site.prefixes``, in order."""
        return [p for p in self.ordered() if p not in static]

    def prefixes(self, static: tuple[str, ...]) -> tuple[str, ...]:
        """The learned prefixes the site announces: those not already in ``site.prefixes``, at most ``max``."""
        return tuple(self._beyond(static)[: self.learn.max])

    def over_max(self, static: tuple[str, ...]) -> list[str]:
        """Learned prefixes left out by ``max``."""
        return self._beyond(static)[self.learn.max :]

    def current(self, prefix: str) -> bool:
        """Some core router announces it now (not only held stale or restored)."""
        return any(h.stale_since is None and not h.restored for h in self.table.get(prefix, {}).values())

    def origin(self, prefix: str) -> str | None:
        """Where a learned prefix comes from, in words (None: not learned)."""
        holds = self.table.get(prefix)
        if holds is None:
            return None
        parts = []
        for name, h in sorted(holds.items()):
            if h.stale_since is not None:
                parts.append(
                    f"held from core router {name}: its session is down (dropped {self.learn.hold:g}s after it went "
                    "down unless announced again)"
                )
            elif h.restored:
                parts.append(f"restored from the state file, core router {name} (not announced again yet)")
            else:
                parts.append(f"learned from core router {name}")
        return "; ".join(parts)

    def persist(self) -> dict[str, list[list[Any]]]:
        """What a restarted helper needs: each prefix with the routers holding it and their communities."""
        return {
            prefix: [[name, [list(c) for c in sorted(h.communities)]] for name, h in sorted(holds.items())]
            for prefix, holds in self.table.items()
        }

    def restore(self, data: Any) -> int:
        """Read back what ``persist`` wrote (a malformed entry is skipped): held as restored until the router
        announces it again or its table is complete without it.  How many prefixes were restored."""
        if not isinstance(data, dict):
            return 0
        names = set(self.routers.values())
        for prefix, holds in data.items():
            if not isinstance(prefix, str) or not isinstance(holds, list):
                continue
            for item in holds:
                try:
                    name, comms = item
                    tags = frozenset((int(a), int(b)) for a, b in comms)
                except (TypeError, ValueError):
                    continue
                if name in names and self._why_not(prefix, tags) is None:
                    self.table.setdefault(prefix, {})[name] = Hold(tags, restored=True)
        self._changed()
        return len(self.table)


def learner_for(config: Config, old: SiteLearner | None) -> SiteLearner | None:
    """The learner a configuration asks for: ``old`` reconfigured (what it learned kept where still taken), a new
    one, or None without ``site.learn``."""
    learn = config.site.learn if config.site is not None else None
    if learn is None:
        return None
    routers = {c.address: c.name for c in config.core_routers if not learn.routers or c.name in learn.routers}
    if old is None:
        return SiteLearner(learn, routers)
    old.reconfigure(learn, routers)
    return old


def learns_from(config: Config, address: str) -> bool:
    """Whether bgpsteer reads this core router's routes: the site's prefixes it learns (``site.learn``)."""
    learn = config.site.learn if config.site is not None else None
    return learn is not None and any(
        c.address == address and (not learn.routers or c.name in learn.routers) for c in config.core_routers
    )
