"""A move budget per application class: the moves bgpsteer chooses (an egress entering or leaving a class's
sessions on its SLA fit) are limited to ``moves`` per ``interval`` seconds; one beyond the budget is held, alarmed
and listed with the reason until the budget has room.  Never held: an egress leaving because it is dead (health
failover), an egress entering a class that would otherwise have none (restoring service is not a choice), and the
first population of a class's sessions (at start).
Pure: time comes in as ``now``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from bgpsteer.core.model import MoveBudget


@dataclass(frozen=True, slots=True)
class Held:
    app_class: str
    egress: str
    action: str  # "enter" or "leave"
    since: float
    reason: str


class BudgetState:
    def __init__(self, budget: MoveBudget) -> None:
        self.budget = budget
        self.spent: dict[str, deque[float]] = {}
        self.held: dict[tuple[str, str], Held] = {}
        self.held_total = 0

    def clone(self) -> BudgetState:
        """A copy to predict with (simulate)."""
        c = BudgetState(self.budget)
        c.spent = {k: deque(v) for k, v in self.spent.items()}
        c.held, c.held_total = dict(self.held), self.held_total
        return c

    def _room(self, app_class: str, now: float) -> int:
        times = self.spent.setdefault(app_class, deque())
        while times and now - times[0] >= self.budget.interval:
            times.popleft()
        return self.budget.moves - len(times)

    def apply(
        self, app_class: str, have: set[str], want: set[str], base: set[str], now: float
    ) -> tuple[set[str], list[Held]]:
        """The class's egress set after the budget (from ``have`` towards ``want``; ``base``: the egresses alive),
        and the moves newly held."""
        result = set(have)
        newly: list[Held] = []
        for eid in sorted(have - want):
            if eid not in base:  # dead: failover is never held
                result.discard(eid)
                self.held.pop((app_class, eid), None)
        for action, eids in (("leave", sorted((have - want) & base)), ("enter", sorted(want - have))):
            for eid in eids:
                # a class not served yet (start, reload) is populated, not moved; nor is one left without egresses
                forced = action == "enter" and (not have or not (result & want))
                if forced or self._room(app_class, now) > 0:
                    if not forced:
                        self.spent[app_class].append(now)
                    (result.discard if action == "leave" else result.add)(eid)
                    self.held.pop((app_class, eid), None)
                elif (app_class, eid) not in self.held:
                    h = Held(
                        app_class,
                        eid,
                        action,
                        now,
                        f"move budget of class {app_class}: {self.budget.moves} per {self.budget.interval:g}s spent; "
                        f"egress {eid} would {action} its sessions",
                    )
                    self.held[(app_class, eid)] = h
                    self.held_total += 1
                    newly.append(h)
        for key in [k for k in self.held if k[0] == app_class and (k[1] in result) == (k[1] in want)]:
            del self.held[key]  # no longer wanted either way
        return result, newly
