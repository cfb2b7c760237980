"""The approval deadline escalates to the next tier and never approves (time-skipping server)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from orchestrator.approvals import TemporalApprovals
from orchestrator.temporal import register_search_attributes, time_skipping_server_path
from policies.models import ApprovalRequirement, Autonomy, OrderParts, PartLine
from workflows.common import StockLedger
from workflows.models import (
    ApprovalPolicy,
    ApprovalState,
    ApprovalTier,
    Approver,
    CancelRequest,
    Notification,
    PartOrderInput,
    PartOrderStatus,
)
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_part_order
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

POLICY = ApprovalPolicy(
    tiers=(
        ApprovalTier(name="lead", roles=("maintenance_lead",), deadline_s=3600),
        ApprovalTier(name="manager", above=10_000, roles=("plant_manager",), deadline_s=7200),
    ),
    role_limits={"maintenance_lead": 2_000, "plant_manager": 50_000},
)


async def test_deadline_escalates_and_never_approves() -> None:
    notes: list[Notification] = []

    async def capture(n: Notification) -> None:
        notes.append(n)

    # Nothing here reaches a partner: the order never gets past the gate. The address is unused.
    unused = httpx.AsyncClient(base_url="http://127.0.0.1:9")
    deps = WorkerDeps.from_http(supplier=unused, cmms=unused, mes=unused, stock=StockLedger(), notifier=capture)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(time_skipping_server_path())
    )
    await register_search_attributes(env.client)
    queue = f"deadline-{uuid.uuid4().hex[:6]}"
    try:
        async with build_worker(env.client, deps, task_queue=queue):
            handle = await start_part_order(
                env.client,
                PartOrderInput(
                    site="s1",
                    order=OrderParts(supplier="acme", lines=(PartLine(sku="BRG", quantity=4, unit_price=300),)),
                    autonomy=Autonomy.APPROVE,
                    approval=POLICY,
                ),
                n=1,
                task_queue=queue,
            )
            await env.sleep(3600 * 3 + 60)  # past both deadlines: two escalation notices, no approval
            status = await handle.query(PartOrderWorkflow.approval)
            assert status.state == ApprovalState.ESCALATED
            assert status.votes == ()
            # lead -> manager, then the manager's deadline passed with no higher tier: recorded
            # too, so the escalated card says why it still waits
            assert [(e.from_tier, e.to_tier) for e in status.escalations] == [("lead", "manager"), ("manager", "manager")]
            assert "no higher tier: still waiting for" in status.escalations[-1].reason
            assert "plant_manager" in status.roles and "maintenance_lead" in status.roles
            assert any("escalated from lead to manager" in n.message for n in notes)
            assert any("no higher tier" in n.message for n in notes)

            await handle.execute_update(PartOrderWorkflow.cancel, CancelRequest(user="bob", reason="bought locally"))
            result = await handle.result()
            assert result.status == PartOrderStatus.CANCELLED
            assert "bought locally" in result.approval.reason
    finally:
        await env.shutdown()
        await unused.aclose()


async def test_a_request_no_declared_user_can_complete_escalates_at_once_with_the_reason() -> None:
    """2 of buyer / plant manager above the buyer's limit: only one person may ever sign, so the
    gate says so at once instead of waiting for deadlines that cannot help."""
    notes: list[Notification] = []

    async def capture(n: Notification) -> None:
        notes.append(n)

    policy = ApprovalPolicy(
        tiers=(ApprovalTier(name="manager", roles=("plant_manager",), deadline_s=7200),),
        role_limits={"buyer": 50_000, "plant_manager": 100_000},
        approvers=(
            Approver(name="carla", roles=("buyer",), limit=50_000),
            Approver(name="ben", roles=("plant_manager",), limit=100_000),
        ),
    )
    unused = httpx.AsyncClient(base_url="http://127.0.0.1:9")
    deps = WorkerDeps.from_http(supplier=unused, cmms=unused, mes=unused, stock=StockLedger(), notifier=capture)
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(time_skipping_server_path())
    )
    await register_search_attributes(env.client)
    queue = f"unmet-{uuid.uuid4().hex[:6]}"
    try:
        async with build_worker(env.client, deps, task_queue=queue):
            handle = await start_part_order(
                env.client,
                PartOrderInput(
                    site="s1",
                    order=OrderParts(supplier="steelco", lines=(PartLine(sku="BAR", quantity=1345, unit_price=38.5),)),
                    autonomy=Autonomy.APPROVE,
                    approval=policy,
                    requirement=ApprovalRequirement(roles=("buyer", "plant_manager"), min_approvers=2),
                ),
                n=1,
                task_queue=queue,
            )
            status = await handle.query(PartOrderWorkflow.approval)
            for _ in range(200):  # no sleep through time: poll until the gate has spoken
                if status.state == ApprovalState.ESCALATED and notes:
                    break
                await asyncio.sleep(0.05)
                status = await handle.query(PartOrderWorkflow.approval)
            assert status.state == ApprovalState.ESCALATED
            assert status.deadline is None  # no deadline that could only end the same way
            assert "cannot be approved by the declared users" in status.reason
            assert "2 of: buyer, plant_manager" in status.reason and "(ben)" in status.reason
            assert any("cannot be approved" in n.message for n in notes)
            # The inbox card says why (what approvers see next to "escalated").
            item = await TemporalApprovals(env.client).approval(handle.id)
            assert item is not None and item.state == "escalated" and "(ben)" in item.reason
            await handle.execute_update(PartOrderWorkflow.cancel, CancelRequest(user="ben", reason="split the order"))
            assert (await handle.result()).status == PartOrderStatus.CANCELLED
    finally:
        await env.shutdown()
