"""What the loop asks of its collaborators, as Protocols: the agent fleet, the MES, the twin feed.

The real ones are ``agents.runtime.adapter.AgentFleet`` (Ray), ``workflows.integrations.mes.MesClient``
(HTTP) and ``agents.simulator.feed.TwinFeed``; tests and benchmarks hand in anything that answers
the same calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from agents.base import Reading
from agents.models import HealthReport
from agents.sources.hub import SourceHub
from workflows.integrations.models import QueuedJob, Schedule


class Fleet(Protocol):
    """The agents: readings in, health reports out. Blocking calls (the loop runs them in a thread)."""

    def ingest(self, readings: Sequence[Reading]) -> list[HealthReport]: ...

    def maintenance_done(self, asset_id: str, time: datetime) -> bool: ...

    def latest_of(self, asset_id: str) -> HealthReport | None: ...

    def checkpoint(self) -> int: ...

    def stop(self) -> None: ...


class Mes(Protocol):
    """The MES as the loop reads it: planned windows and the queues of the machines."""

    async def get_schedule(self, start: datetime, end: datetime, *, asset_id: str | None = None) -> Schedule: ...

    async def list_queued_jobs(self, asset_id: str) -> tuple[QueuedJob, ...]: ...


class Feed(Protocol):
    """The demo's twin publishing through the plant's protocols, read back through the sources."""

    def clock(self) -> datetime: ...

    def attach(self, hub: SourceHub, now: datetime) -> None: ...

    async def publish(self, readings: Sequence[Reading], now: datetime) -> None: ...

    def complete(self, readings: Sequence[Reading]) -> list[Reading]: ...

    async def prime(self) -> None: ...
