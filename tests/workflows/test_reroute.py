"""Reroute against the reference MES: only capable machines receive work; it comes back after repair."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from policies.models import RerouteWork
from tests.workflows.conftest import FAST_RETRY, Stack, unique
from tests.workflows.test_part_order import eventually
from workflows.integrations.mes import MesClient
from workflows.models import RepairDone, RerouteInput, RerouteStatus
from workflows.reroute.workflow import RerouteWorkflow
from workflows.starters import start_reroute

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

        await handle.signal(RerouteWorkflow.repair_done, RepairDone(asset_id="mill-1", by="tech-7"))
        result = await asyncio.wait_for(handle.result(), timeout=20)
        assert result.status == RerouteStatus.RESTORED
        assert result.unplaced == ("J-1002",)
        assert set(result.moved_back) == moved_ids
        assert {j.job_id for j in await mes.list_queued_jobs("mill-1")} == set(before)
        assert not {m.asset_id: m for m in await mes.list_machines()}["mill-1"].constrained
