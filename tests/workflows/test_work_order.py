"""Instrument-check work orders: one per problem while it is open, a new one when it comes back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from policies.models import CreateWorkOrder, Priority
from tests.workflows.conftest import FAST_RETRY, POLICY, Stack, unique
from tests.workflows.test_part_order import eventually
from workflows.models import WorkOrderInput, WorkOrderStatus
from workflows.starters import start_work_order
from workflows.work_order.workflow import WorkOrderWorkflow

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_a_problem_that_recurs_after_its_work_order_closed_opens_a_new_one(stack: Stack) -> None:
    site = unique("site-")
    inp = WorkOrderInput(
        site=site,
        action=CreateWorkOrder(asset_id="lathe-1", priority=Priority.P3, instrument_check=True,
                               sensor="bearing_temp", title="check instrument bearing_temp on lathe-1"),
        approval=POLICY, completion_timeout_s=60, retry=FAST_RETRY,
    )
    key = f"wo:{site}:lathe-1:instrument:bearing_temp"
    opened: list[str] = []
    for round_ in (1, 2):
        handle = await start_work_order(stack.client, inp, dedup_key=key, task_queue=stack.task_queue)

        async def created() -> list[dict[str, object]]:
            return [w for w in stack.work_orders(handle.id) if w["work_order"]["work_order_id"] not in opened]  # noqa: B023

        order = (await eventually(created))[0]["work_order"]
        assert order["status"] != "completed"  # round 2: a new order, not round 1's closed one
        opened.append(str(order["work_order_id"]))
        async with httpx.AsyncClient(base_url=stack.partners.cmms_url) as http:
            done = await http.post(f"/work-orders/{order['work_order_id']}/complete",
                                   json={"completed_by": f"tech-{round_}", "notes": "sensor replaced"})
            assert done.status_code == 200
        result = await asyncio.wait_for(
            stack.client.get_workflow_handle_for(WorkOrderWorkflow.run, handle.id).result(), timeout=120
        )
        assert result.status == WorkOrderStatus.COMPLETED and result.work_order_id == opened[-1]
    assert len(set(opened)) == 2
    assert len(stack.work_orders(handle.id)) == 2  # one per occurrence, each completed once
