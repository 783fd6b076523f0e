"""What a scenario is and what running it gave: shared by the runner (lab/scenario.py) and the report
(lab/report.py), which import this and not each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.scenario_lab import Step, Timeline


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    topology: Path
    description: str
    steps: tuple[Step, ...]


@dataclass
class Outcome:
    name: str
    line: int
    passed: bool
    detail: str
    at: float  # seconds into the scenario when it was decided
    took: float | None  # seconds until it held (convergence), None if it never did
    changes: int


@dataclass
class Result:
    scenario: Scenario
    outcomes: list[Outcome]
    timeline: Timeline
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.passed for o in self.outcomes)
