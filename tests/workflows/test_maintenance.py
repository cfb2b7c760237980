"""Maintenance against the reference MES / CMMS / supplier, closing on the signed CMMS callback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from agents.models import AssetKind, HealthReport, Status
from orchestrator.signals import forward_health
from policies.models import ApprovalRequirement, Autonomy, PartLine, Priority, ScheduleMaintenance
from tests.workflows.conftest import FAST_RETRY, POLICY, Stack, unique
from tests.workflows.test_part_order import eventually
from workflows.integrations.mes import MesClient
from workflows.integrations.models import CallbackEvent, EventType, WindowKind
from workflows.integrations.signing import signature_headers
from workflows.maintenance.workflow import MaintenanceWorkflow
from workflows.models import (
    ApprovalState,
    ApprovalVote,
    AttentionDecision,
    HealthConfirmation,
    MaintenanceInput,
    MaintenanceStatus,
)
from workflows.starters import start_maintenance
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def maintenance_input(asset: str, hours: float, **action: object) -> MaintenanceInput:
    return MaintenanceInput(
        site=unique("site-"),  # a fresh business key per test: maint:<site>:<asset>
        action=ScheduleMaintenance(asset_id=asset, task="replace spindle bearings", duration_h=hours,
                                   priority=Priority.P3, **action),  # type: ignore[arg-type]
        autonomy=Autonomy.APPROVE,
        approval=POLICY,
        requirement=ApprovalRequirement(roles=("maintenance_lead",)),
        estimated_cost=800.0,
        requested_by="policy:bearing-wear",
        explanation="bearing defect frequency rising on mill-1",
        evidence={"bpfo_amplitude_g": 0.42},
        supplier="reference",
        completion_timeout_s=60,
        health_timeout_s=20,
        retry=FAST_RETRY,
    )


async def expected_window_start(stack: Stack, asset: str, hours: float, now: datetime) -> datetime:
    """The oracle, from the MES's raw schedule: first planned stop with ``hours`` left in it."""
    async with httpx.AsyncClient(base_url=stack.partners.mes_url) as http:
        schedule = await MesClient(http).get_schedule(now, now + timedelta(days=14), asset_id=asset)
    for w in schedule.windows:
        start = max(w.start, now)
        if w.kind in (WindowKind.BREAK, WindowKind.MAINTENANCE) and w.end - start >= timedelta(hours=hours):
            return start
    raise AssertionError("the reference plan has no window that long")


async def test_maintenance_in_the_right_window_one_work_order_closed_by_signed_callback(stack: Stack) -> None:
    asset = "mill-1"
    stock_before = stack.stock.on_hand.get("BRG-6205-2RS", 0)
    inp = maintenance_input(asset, 4.0, parts=(PartLine(sku="BRG-6205-2RS", quantity=stock_before + 2, unit_price=14.5),))
    now = datetime.now(UTC)
    handle = await start_maintenance(stack.client, inp, task_queue=stack.task_queue)
    again = await start_maintenance(stack.client, inp, task_queue=stack.task_queue)
    assert again.result_run_id == handle.result_run_id  # the same problem twice: one workflow

    async def pending() -> bool:
        return (await handle.query(MaintenanceWorkflow.approval)).state == ApprovalState.PENDING

    await eventually(pending, timeout_s=90)
    # Asked before anything is bought: the amount is the job's estimate plus the 2 bearings it
    # will order, and no part order exists yet.
    asking = await handle.query(MaintenanceWorkflow.approval)
    assert asking.amount == 800.0 + 2 * 14.5
    assert "after approval, a part order for 2 × BRG-6205-2RS" in asking.context.creates
    bought = [d for d in stack.partners.supplier.app.state.ledger.all("orders") if f":{asset}-" in d["order"]["po_number"]
              and inp.site in d["order"]["po_number"]]
    assert bought == []
    window = await handle.query(MaintenanceWorkflow.planned_window)
    expected = await expected_window_start(stack, asset, 4.0, now)
    assert abs((window.start - expected).total_seconds()) < 120
    assert window.end - window.start == timedelta(hours=4)
    assert "maintenance window" in window.name  # a 30-minute break cannot hold 4 h

    await handle.execute_update(
        MaintenanceWorkflow.decide, ApprovalVote(user="mia", role="maintenance_lead", approve=True, comment="go")
    )

    async def work_order() -> list[dict[str, object]]:
        return stack.work_orders(handle.id)

    orders = await eventually(work_order)
    wo = orders[0]["work_order"]
    assert wo["asset_id"] == asset and wo["window_start"].startswith(window.start.strftime("%Y-%m-%dT%H:%M"))

    # A forged completion (wrong secret) is refused at the intake and wakes nothing.
    event = CallbackEvent(event_id=unique("forged-"), type=EventType.WORK_ORDER_COMPLETED, source="cmms",
                          occurred_at=datetime.now(UTC), external_ref=handle.id,
                          payload={"work_order_id": wo["work_order_id"]})
    body = event.model_dump_json().encode()
    async with httpx.AsyncClient(base_url=stack.intake_url) as http:
        forged = await http.post("/callbacks/cmms", content=body,
                                 headers=signature_headers("not-the-secret", body, datetime.now(UTC)))
        assert forged.status_code == 401 and "forged" in forged.json()["reason"]
        await asyncio.sleep(0.5)
        desc = await handle.describe()
        assert desc.status is not None and desc.status.name == "RUNNING"

        # The technician closes it in the CMMS; the CMMS calls back, signed; the asset is healthy.
        # The machine agent's next report (green) reaches the workflow as a signal.
        report = HealthReport(report_id="mill-1:99", asset_id=asset, asset_kind=AssetKind.MACHINE, seq=99,
                              time=datetime.now(UTC), status=Status.GREEN, health_score=0.93,
                              summary="vibration zone A")
        assert await forward_health(stack.client, inp.site, report) is True
        done = await http.post(f"{stack.partners.cmms_url}/work-orders/{wo['work_order_id']}/complete",
                               json={"completed_by": "tech-7", "notes": "bearings replaced"})
        assert done.status_code == 200

    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == MaintenanceStatus.CLOSED
    assert result.work_order_id == wo["work_order_id"]
    assert len(stack.work_orders(handle.id)) == 1
    assert len(result.child_orders) == 1 and result.child_orders[0].startswith(f"po:{inp.site}:BRG-6205-2RS:")
    assert result.reason == f"{asset} healthy again"
    # The job used its reservation and the 2 bearings bought for it: none of them is left in stock.
    assert stack.stock.on_hand.get("BRG-6205-2RS", 0) == 0
    [(_, used)] = [(ref, lines) for ref, lines in stack.stock.issues.items() if ref.startswith(handle.id)]
    assert used == [{"sku": "BRG-6205-2RS", "quantity": stock_before + 2}]
    assert await forward_health(stack.client, unique("nowhere-"), report) is False  # nothing to tell


async def test_no_window_long_enough_asks_a_person_and_orders_nothing(stack: Stack) -> None:
    inp = maintenance_input("lathe-2", 9.0)  # longer than any planned stop (nights 4 h, Saturday 8 h)
    handle = await start_maintenance(stack.client, inp, task_queue=stack.task_queue)

    async def attention() -> str:
        status = await handle.query(MaintenanceWorkflow.approval)
        return status.reason if status.state == ApprovalState.ATTENTION else ""

    reason = await eventually(attention)
    assert "no planned window of 9 h" in reason
    await handle.execute_update(
        MaintenanceWorkflow.resolve, AttentionDecision(user="mia", role="maintenance_lead", retry=False, comment="do it at the shutdown")
    )
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == MaintenanceStatus.ABANDONED
    assert stack.work_orders(handle.id) == []


# ---- the wait for "healthy again": no single message may be needed -----------------------------

async def _approved_with_work_order(stack: Stack, inp: MaintenanceInput, task_queue: str) -> tuple[Any, str]:
    """Start the job, approve it, and return its handle and the CMMS work order id."""
    handle = await start_maintenance(stack.client, inp, task_queue=task_queue)

    async def pending() -> bool:
        return (await handle.query(MaintenanceWorkflow.approval)).state == ApprovalState.PENDING

    await eventually(pending)
    await handle.execute_update(
        MaintenanceWorkflow.decide, ApprovalVote(user="mia", role="maintenance_lead", approve=True, comment="go")
    )

    async def work_order() -> list[dict[str, object]]:
        return stack.work_orders(handle.id)

    orders = await eventually(work_order)
    return handle, str(orders[0]["work_order"]["work_order_id"])  # type: ignore[index]


async def _complete(stack: Stack, work_order_id: str) -> None:
    async with httpx.AsyncClient(base_url=stack.partners.cmms_url) as http:
        done = await http.post(f"/work-orders/{work_order_id}/complete",
                               json={"completed_by": "tech-7", "notes": "bearings replaced"})
        assert done.status_code == 200


def _green(asset: str) -> HealthReport:
    return HealthReport(report_id=f"{asset}:1", asset_id=asset, asset_kind=AssetKind.MACHINE, seq=1,
                        time=datetime.now(UTC), status=Status.GREEN, health_score=0.95, summary="vibration zone A")


async def test_healthy_report_that_arrives_before_the_work_order_completes_is_kept(stack: Stack) -> None:
    asset = "lathe-1"  # a machine the reference MES knows; the site is unique per test
    inp = maintenance_input(asset, 2.0).model_copy(update={
        "health_poll_s": 3600.0,  # asking again would come too late: only the early signal can close it
    })
    handle, wo = await _approved_with_work_order(stack, inp, stack.task_queue)
    assert await forward_health(stack.client, inp.site, _green(asset)) is True  # before the callback
    await _complete(stack, wo)
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == MaintenanceStatus.CLOSED and result.reason == f"{asset} healthy again"


async def test_job_finds_health_by_asking_when_no_signal_ever_comes(stack: Stack) -> None:
    asset = "mill-2"  # a machine the reference MES knows; the site is unique per test
    inp = maintenance_input(asset, 2.0).model_copy(update={
        "health_poll_s": 0.5, "health_timeout_s": 600.0,
    })
    stack.health[asset] = HealthConfirmation(asset_id=asset, healthy=False, detail="bearing still amber")
    handle, wo = await _approved_with_work_order(stack, inp, stack.task_queue)
    await _complete(stack, wo)

    async def asked_twice() -> bool:  # answered "not healthy" at least twice: it keeps asking
        return stack.health_asked[asset] >= 2

    await eventually(asked_twice)
    # The agent turns green; nobody signals the workflow. It must find out by asking.
    stack.health[asset] = HealthConfirmation(asset_id=asset, healthy=True, detail="vibration zone A")
    result = await asyncio.wait_for(handle.result(), timeout=120)
    assert result.status == MaintenanceStatus.CLOSED and result.reason == f"{asset} healthy again"


async def test_job_completes_when_the_orchestrator_restarts_between_completion_and_health(stack: Stack) -> None:
    """The worker that ran the job is gone when the work order completes (the signal wakes nobody);
    the worker of the restarted orchestrator has no memory of it and still closes the job."""
    asset = "furnace-1"  # a machine the reference MES knows; the site is unique per test
    inp = maintenance_input(asset, 2.0).model_copy(update={
        "health_poll_s": 0.5, "health_timeout_s": 600.0,
    })
    queue = unique("restart-q-")
    first_answers: dict[str, HealthConfirmation] = {
        asset: HealthConfirmation(asset_id=asset, healthy=False, detail="bearing amber")
    }
    first, first_task, first_http = _worker(stack, queue, first_answers)
    try:
        handle, wo = await _approved_with_work_order(stack, inp, queue)
    finally:
        await first.shutdown()
        await first_task
        for h in first_http:
            await h.aclose()
    await _complete(stack, wo)  # the callback reaches Temporal while no worker runs

    second, second_task, second_http = _worker(
        stack, queue, {asset: HealthConfirmation(asset_id=asset, healthy=True, detail="vibration zone A")}
    )
    try:
        result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        await second.shutdown()
        await second_task
        for h in second_http:
            await h.aclose()
    assert result.status == MaintenanceStatus.CLOSED and result.work_order_id == wo
    assert len(stack.work_orders(handle.id)) == 1


def _worker(
    stack: Stack, queue: str, answers: dict[str, HealthConfirmation]
) -> tuple[Worker, asyncio.Task[None], list[httpx.AsyncClient]]:
    """A worker of its own (another orchestrator process) whose health source knows ``answers``."""

    async def health(asset_id: str) -> HealthConfirmation | None:
        return answers.get(asset_id)

    urls = (stack.partners.supplier_url, stack.partners.cmms_url, stack.partners.mes_url)
    http = [httpx.AsyncClient(base_url=url) for url in urls]
    deps = WorkerDeps.from_http(
        supplier=http[0], cmms=http[1], mes=http[2], stock=stack.stock, timeout_s=3.0, health=health,
        supplier_callback_url=f"{stack.intake_url}/callbacks/supplier",
        cmms_callback_url=f"{stack.intake_url}/callbacks/cmms",
    )
    worker = build_worker(stack.client, deps, task_queue=queue)
    return worker, asyncio.create_task(worker.run()), http
