"""The history store on SQLite and on a real PostgreSQL: migrations, idempotent writes, reads,
and a shift report computed from what the recorder wrote."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.config import Break, Schedule, Shift
from orchestrator.history import HistoryStore, history_url, schema
from orchestrator.history.recorder import HistoryRecorder
from orchestrator.kpi.iso22400 import ShiftWindow
from orchestrator.report.shift import build_shift_report

T0 = datetime(2026, 5, 4, 0, tzinfo=UTC)
SCHEDULE = Schedule(
    timezone="UTC",
    shifts=(Shift(name="early shift", start=time(6), end=time(14)),
            Shift(name="late shift", start=time(14), end=time(22))),
    planned_breaks=(Break(name="early shift break", start=time(10), end=time(10, 30)),),
)
MACHINES = (
    {"id": "mill-1", "line": "line-a", "capabilities": ["milling.5axis"]},
    {"id": "lathe-1", "line": "line-b", "capabilities": ["turning"]},
)


class _Config:
    site = "test-site"
    schedule = SCHEDULE


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "sqlite":
        s = HistoryStore.for_state_dir(tmp_path)
    else:
        base = request.getfixturevalue("postgres_url")
        # A database of its own per test: nothing left over from another test.
        from sqlalchemy import create_engine

        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(history_url(tmp_path, base), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        s = HistoryStore.open(history_url(tmp_path, base.rsplit("/", 1)[0] + f"/{name}"))
    yield s
    s.close()


def test_sqlite_is_the_default_in_the_state_dir(tmp_path: Path) -> None:
    assert history_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/history.sqlite"
    assert history_url(tmp_path, "postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


def test_migrated_and_reopened_without_loss(store: HistoryStore) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    store.add_breakdown("mill-1", T0, open_decision=False)
    again = HistoryStore.open(store.engine.url.render_as_string(hide_password=False))
    try:
        assert [b["asset_id"] for b in again.rows(schema.breakdowns)] == ["mill-1"]
    finally:
        again.close()


def test_writes_are_idempotent_and_times_come_back_utc(store: HistoryStore) -> None:
    rows = [{"asset_id": "mill-1", "start": T0, "end": T0 + timedelta(hours=1), "line": "line-a",
             "batch": "B1", "ideal_cycle_s": 60.0, "produced": 50, "good": 48}]
    assert store.add_counts(rows) == 1
    assert store.add_counts(rows) == 0  # a replayed tick writes nothing twice
    [back] = store.between(schema.production_counts, T0, T0 + timedelta(hours=2))
    assert back["start"] == T0 and back["start"].tzinfo is not None and back["good"] == 48
    assert store.save_report("2026-05-04:early shift", "s", {"a": 1}, T0)
    assert not store.save_report("2026-05-04:early shift", "s", {"a": 2}, T0)
    assert store.report("2026-05-04:early shift") == {"a": 1}


def test_report_from_recorded_production(store: HistoryStore) -> None:
    recorder = HistoryRecorder(store, schedule=SCHEDULE, machines=MACHINES)
    for hour in range(24):  # one simulated day, tick by tick
        start = T0 + timedelta(hours=hour)
        recorder.production(start, start + timedelta(hours=1), failed={"lathe-1"} if hour >= 20 else set())
    recorder.breakdowns(["lathe-1"], open_assets=set(), at=T0 + timedelta(hours=20))
    shift = ShiftWindow.of("early shift", date(2026, 5, 4), time(6), time(14), "UTC")
    report = build_shift_report(store, _Config(), shift)
    mill = report["machines"]["mill-1"]
    assert mill["planned_busy_h"] == pytest.approx(7.5)  # 8 h less the 30-min break
    for key in ("availability", "performance", "quality", "oee"):
        assert 0.0 < mill[key] <= 1.0
    assert mill["oee"] == pytest.approx(mill["availability"] * mill["performance"] * mill["quality"], abs=1e-4)
    assert "micro-stop" in report["downtime"]
    assert report["energy_per_unit"]["plant"] > 0
    late = ShiftWindow.of("late shift", date(2026, 5, 4), time(14), time(22), "UTC")
    late_report = build_shift_report(store, _Config(), late)
    assert late_report["downtime"]["breakdown"] == pytest.approx(2.0)  # 20:00-22:00
    assert late_report["mtbf_h"]["lathe-1"] is not None
    assert late_report["policies"]["(no policy)"]["missed"] == 1


def test_simulated_plant_archives_each_ended_shift_once(store: HistoryStore) -> None:
    from orchestrator.report.clock import archive_ended_shifts

    recorder = HistoryRecorder(store, schedule=SCHEDULE, machines=MACHINES, site="test-site")
    written: list[str] = []
    for hour in range(24):
        start = T0 + timedelta(hours=hour)
        recorder.production(start, start + timedelta(hours=1), failed=set())
        written += archive_ended_shifts(recorder, SCHEDULE, start, start + timedelta(hours=1))
    assert written == ["2026-05-04:early shift", "2026-05-04:late shift"]
    # A replayed tick (the orchestrator resumed) finds them there.
    assert archive_ended_shifts(recorder, SCHEDULE, T0 + timedelta(hours=13), T0 + timedelta(hours=14)) == []
    assert store.report("2026-05-04:late shift")["machines"]["mill-1"]["oee"] > 0


def test_a_tick_of_the_loop_and_retention(store: HistoryStore) -> None:
    from types import SimpleNamespace

    from agents.models import Status
    from orchestrator.history.recorder import record_step
    from orchestrator.ledger import WorkflowLedger, WorkflowRecord
    from orchestrator.runtime import StepResult
    from tests.orchestrator.learn.plant_history import report

    recorder = HistoryRecorder(store, schedule=SCHEDULE, machines=MACHINES, retention_days=1)
    ledger = WorkflowLedger()
    ledger.opened(WorkflowRecord(workflow_id="maint:s:mill-1", kind="schedule_maintenance",
                                 asset_id="mill-1", decision_id="d-1", dedup_key="k", started_at=T0))
    orch = SimpleNamespace(workflows=ledger, sim=SimpleNamespace(failed=lambda: ["lathe-1"]))
    tick = StepResult(1, [report("mill-1", T0, Status.AMBER, 0.5)], [], ["maint:s:mill-1"])
    record_step(recorder, orch, tick, T0, T0 + timedelta(hours=1))
    [flow] = store.rows(schema.workflow_outcomes)
    assert (flow["kind"], flow["status"], flow["started_at"]) == ("schedule_maintenance", "running", T0)
    [change] = store.rows(schema.status_changes)
    assert (change["asset_id"], change["status"]) == ("mill-1", "amber")
    [broken] = store.rows(schema.breakdowns)
    assert broken["asset_id"] == "lathe-1" and not broken["open_decision"]
    ledger.close("maint:s:mill-1", status="completed", at=T0 + timedelta(hours=2))
    later = T0 + timedelta(days=3, hours=8)  # in the early shift: parts are made
    record_step(recorder, orch, StepResult(0, [], [], []), later, later + timedelta(hours=1))
    [flow] = store.rows(schema.workflow_outcomes)
    assert flow["status"] == "completed"
    assert len(store.rows(schema.breakdowns)) == 1  # a failure is counted once
    # Retention (1 day): the first hour's series are gone, the newest hour's kept.
    kept = store.rows(schema.production_counts)
    assert kept and all(r["end"] > later - timedelta(days=1) for r in kept)
