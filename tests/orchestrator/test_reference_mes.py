"""The reference MES (sample plant) through ``httpx.ASGITransport``, driven by our ``MesClient``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agents.errors import RejectedByPartnerError
from orchestrator.reference.mes import create_mes_app
from workflows.integrations.mes import MesClient
from workflows.integrations.models import WindowKind

MONDAY = datetime(2026, 11, 30, tzinfo=UTC)


def client_for(app: object) -> MesClient:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mes")
    return MesClient(http)


async def test_sample_plant_machines_and_capabilities(tmp_path: Path) -> None:
    mes = client_for(create_mes_app(tmp_path))
    machines = {m.asset_id: m for m in await mes.list_machines()}
    assert set(machines) == {"mill-1", "mill-2", "lathe-1", "lathe-2", "furnace-1"}
    assert "milling.5axis" in machines["mill-1"].capability_ids()
    assert "milling.5axis" not in machines["mill-2"].capability_ids()
    assert machines["furnace-1"].kind == "furnace"
    jobs = {j.job_id: j for j in await mes.list_queued_jobs("mill-1")}
    assert machines["mill-2"].can_run(jobs["J-1001"])
    assert not machines["mill-2"].can_run(jobs["J-1002"])  # needs 5-axis
    assert not machines["lathe-1"].can_run(jobs["J-1001"])


async def test_monday_schedule_has_shifts_cut_by_breaks_and_a_night_window(
    tmp_path: Path,
) -> None:
    mes = client_for(create_mes_app(tmp_path))
    schedule = await mes.get_schedule(MONDAY, MONDAY + timedelta(days=1), asset_id="mill-1")
    spans = [(w.kind, w.start.hour, w.start.minute, w.duration_h) for w in schedule.windows]
    assert spans == [
        (WindowKind.PRODUCTION, 6, 0, 4.0),
        (WindowKind.BREAK, 10, 0, 0.5),
        (WindowKind.PRODUCTION, 10, 30, 3.5),
        (WindowKind.PRODUCTION, 14, 0, 4.0),
        (WindowKind.BREAK, 18, 0, 0.5),
        (WindowKind.PRODUCTION, 18, 30, 3.5),
        (WindowKind.MAINTENANCE, 22, 0, 4.0),
    ]
    saturday = MONDAY + timedelta(days=5)
    weekend = await mes.get_schedule(saturday, saturday + timedelta(days=1))
    assert [(w.kind, w.duration_h) for w in weekend.windows] == [(WindowKind.MAINTENANCE, 8.0)]


async def test_jobs_move_only_to_capable_free_machines_and_once_per_key(tmp_path: Path) -> None:
    mes = client_for(create_mes_app(tmp_path))
    queued = await mes.list_queued_jobs("mill-1")
    assert [j.job_id for j in queued] == ["J-1001", "J-1002", "J-1003"]

    with pytest.raises(RejectedByPartnerError) as info:
        await mes.move_job("J-1002", "mill-2", "reroute:mill-1:J-1002")
    assert "lacks capability milling.5axis" in info.value.reason

    moved = await mes.move_job("J-1001", "mill-2", "reroute:mill-1:J-1001")
    assert moved.moved and moved.from_asset == "mill-1" and moved.job.sequence == 2
    repeat = await mes.move_job("J-1001", "mill-2", "reroute:mill-1:J-1001")
    assert not repeat.moved and repeat.job == moved.job
    assert [j.job_id for j in await mes.list_queued_jobs("mill-2")] == ["J-1004", "J-1001"]
    assert [(j.job_id, j.sequence) for j in await mes.list_queued_jobs("mill-1")] == [
        ("J-1002", 1),
        ("J-1003", 2),
    ]

    constrained = await mes.set_constraint("mill-2", "spindle vibration red")
    assert constrained.constrained
    with pytest.raises(RejectedByPartnerError) as busy:
        await mes.move_job("J-1003", "mill-2", "reroute:mill-1:J-1003")
    assert "constrained" in busy.value.reason
    released = await mes.release_constraint("mill-2")
    assert not released.constrained


async def test_moves_persist_across_restart(tmp_path: Path) -> None:
    await client_for(create_mes_app(tmp_path)).move_job("J-2002", "lathe-2", "k1")
    after = client_for(create_mes_app(tmp_path))
    assert [j.job_id for j in await after.list_queued_jobs("lathe-2")] == ["J-2003", "J-2002"]
