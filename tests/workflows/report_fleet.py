"""A fleet for loop tests: the agents as the loop sees them (``orchestrator.collaborators.Fleet``),
each reading turned into the report a test's ``make`` builds — no Ray, no learned baseline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from agents.base import Reading
from agents.models import HealthReport


class ReportFleet:
    def __init__(self, make: Callable[[Reading], HealthReport]) -> None:
        self.make = make
        self.latest: dict[str, HealthReport] = {}

    def ingest(self, readings: Sequence[Reading]) -> list[HealthReport]:
        out = [self.make(r) for r in readings]
        self.latest.update({r.asset_id: r for r in out})
        return out

    def maintenance_done(self, asset_id: str, time: datetime) -> bool:
        return False

    def latest_of(self, asset_id: str) -> HealthReport | None:
        return self.latest.get(asset_id)

    def checkpoint(self) -> int:
        return 0

    def stop(self) -> None:
        pass
