"""A small plant, its people and an alarm service with a clock we move, on an in-memory store and
on the shared state database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.models import AssetKind, HealthReport, Indicator, SensorFault, Status
from orchestrator.alarms import AlarmService, AlarmStore
from orchestrator.config import PlantConfig, parse_config

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def plant() -> PlantConfig:
    return parse_config(
        {
            "site": "pc",
            "lines": [{"id": "line-a"}, {"id": "line-b"}],
            "machines": [
                {"id": "mill-1", "line": "line-a", "area": "machining", "cell": "cell-3"},
                {"id": "lathe-1", "line": "line-b"},
            ],
            "schedule": {"shifts": [{"name": "early", "start": "06:00:00", "end": "14:00:00"}]},
            "roles": {
                "operator": {"can_approve": False},
                "maintenance_lead": {"approval_limit": 5000},
                "viewer": {"can_approve": False},
            },
            "users": [
                {"name": "omar", "roles": ["operator"]},
                {"name": "ana", "roles": ["maintenance_lead"]},
                {"name": "vic", "roles": ["viewer"]},
            ],
        }
    )


def report(asset: str, status: Status, at: datetime, *, seq: int = 1,
           faults: tuple[SensorFault, ...] = ()) -> HealthReport:
    return HealthReport(
        report_id=f"{asset}:{seq}",
        asset_id=asset,
        asset_kind=AssetKind.MACHINE,
        seq=seq,
        time=at,
        status=status,
        health_score=0.9 if status is Status.GREEN else 0.5,
        indicators=(Indicator(name="spindle_vel", value=5.1, unit="mm/s", amber_at=4.5,
                              red_at=7.1, status=status),),
        sensor_faults=faults,
        summary=f"vibration {status.value}",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config() -> PlantConfig:
    return plant()


@pytest.fixture(params=["memory", "state-sqlite", "state-postgresql"])
def service(
    request: pytest.FixtureRequest, config: PlantConfig, clock: Clock, tmp_path: Path
) -> Iterator[AlarmService]:
    """The same rules over the SQLite store and over the shared state database (both dialects)."""
    if request.param == "memory":
        yield AlarmService(AlarmStore(), config, clock=clock)
        return
    from orchestrator.state import StateDB

    url = (
        f"sqlite:///{tmp_path / 'state.sqlite'}"
        if request.param == "state-sqlite"
        else str(request.getfixturevalue("postgres_database"))
    )
    db = StateDB(url)
    try:
        yield AlarmService(db.alarm_store(), config, clock=clock)
    finally:
        db.close()


def user(config: PlantConfig, name: str):  # noqa: ANN201
    found = config.user(name)
    assert found is not None
    return found
