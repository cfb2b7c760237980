"""Reroute against the reference MES: only capable machines receive work; it comes back when the
maintenance of the machine closes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from policies.models import Autonomy, RerouteWork, ScheduleMaintenance
from tests.workflows.conftest import FAST_RETRY, Stack, unique
from tests.workflows.test_part_order import eventually
from workflows.integrations.mes import MesClient
from workflows.models import (
    HealthConfirmation,
    MaintenanceInput,
    MaintenanceStatus,
    RerouteInput,
    RerouteStatus,
)
from workflows.reroute.workflow import RerouteWorkflow
from workflows.starters import start_maintenance, start_reroute

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_reroute_moves_jobs_only_to_capable_machines_and_back(stack: Stack) -> None:
    inp = RerouteInput(site=unique("site-"), action=RerouteWork(from_asset="mill-1", reason="spindle bearing"),
                       retry=FAST_RETRY)
    async with httpx.AsyncClient(base_url=stack.partners.mes_url) as http:
        mes = MesClient(http)
        before = {j.job_id: j for j in await mes.list_queued_jobs("mill-1")}
        machines = {m.asset_id: m for m in await mes.list_machines()}
        handle = await start_reroute(stack.client, inp, task_queue=stack.task_queue)

        async def moved() -> bool:
            return bool(await handle.query(RerouteWorkflow.planned_moves))

        await eventually(moved)
        moves = await handle.query(RerouteWorkflow.planned_moves)
        for move in moves:
            # Every moved job went to a machine whose capability list covers what the job needs.
            assert machines[move.to_machine].can_run(before[move.job_id]), move
            assert move.to_machine != "mill-1"
        moved_ids = {m.job_id for m in moves}
        assert moved_ids == {"J-1001", "J-1003"}  # mill-2 mills and drills
        left = {j.job_id for j in await mes.list_queued_jobs("mill-1")}
        assert left == {"J-1002"}  # 5-axis work: no other machine can take it
        on_mill2 = {j.job_id for j in await mes.list_queued_jobs("mill-2")}
        assert moved_ids <= on_mill2
        assert {m.asset_id: m for m in await mes.list_machines()}["mill-1"].constrained

        # The repair: a maintenance workflow for the same asset closes, and tells the reroute.
        maint = await start_maintenance(stack.client, MaintenanceInput(
            site=inp.site, autonomy=Autonomy.AUTO, health_timeout_s=20, retry=FAST_RETRY,
            action=ScheduleMaintenance(asset_id="mill-1", task="replace spindle bearing", duration_h=0.5),
        ), task_queue=stack.task_queue)
        stack.health["mill-1"] = HealthConfirmation(asset_id="mill-1", healthy=True)

        async def work_order() -> list[dict[str, object]]:
            return stack.work_orders(maint.id)

        wo = (await eventually(work_order))[0]["work_order"]
        done = await http.post(f"{stack.partners.cmms_url}/work-orders/{wo['work_order_id']}/complete", json={})
        assert done.status_code == 200
        assert (await asyncio.wait_for(maint.result(), timeout=120)).status == MaintenanceStatus.CLOSED
        result = await asyncio.wait_for(handle.result(), timeout=120)
        assert result.status == RerouteStatus.RESTORED
        assert result.unplaced == ("J-1002",)
        assert set(result.moved_back) == moved_ids
        assert {j.job_id for j in await mes.list_queued_jobs("mill-1")} == set(before)
        assert not {m.asset_id: m for m in await mes.list_machines()}["mill-1"].constrained
