"""Part orders against the real dev server, the reference supplier and the signed-callback intake."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from policies.models import ApprovalRequirement, Autonomy, OrderParts, PartLine, ProposedAction
from tests.workflows.conftest import FAST_RETRY, POLICY, SECRETS, Stack, unique
from workflows.approval import APPROVAL_STATE
from workflows.integrations.models import CallbackEvent, EventType
from workflows.integrations.signing import signature_headers
from workflows.models import (
    ApprovalState,
    ApprovalStatus,
    ApprovalVote,
    AttentionDecision,
    PartOrderInput,
    PartOrderResult,
    PartOrderStatus,
)
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_for_proposal, start_part_order

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def order_input(sku: str, qty: int, price: float, *, autonomy: Autonomy = Autonomy.APPROVE,
                currency: str = "EUR", requested_by: str = "alice") -> PartOrderInput:
    return PartOrderInput(
        site="plant1",
        order=OrderParts(supplier="reference", lines=(PartLine(sku=sku, quantity=qty, unit_price=price),),
                         currency=currency),
        autonomy=autonomy,
        approval=POLICY,
        requested_by=requested_by,
        decision_id=unique("dec-"),
        confirmation_timeout_s=30,
        retry=FAST_RETRY,
    )


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout_s: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy (bounded)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.2)


async def wait_state(handle: WorkflowHandle[Any, Any], state: ApprovalState) -> ApprovalStatus:
    async def check() -> ApprovalStatus | None:
        status = await handle.query(PartOrderWorkflow.approval)
        return status if status.state == state else None

    return await eventually(check)


async def vote(handle: WorkflowHandle[Any, Any], user: str, role: str, approve: bool = True,
               comment: str = "") -> ApprovalStatus:
    return await handle.execute_update(
        PartOrderWorkflow.decide, ApprovalVote(user=user, role=role, approve=approve, comment=comment)
    )


async def result_of(handle: WorkflowHandle[Any, Any]) -> PartOrderResult:
    return await asyncio.wait_for(handle.result(), timeout=120)


async def test_under_auto_limit_completes_without_a_person(stack: Stack) -> None:
    handle = await start_part_order(stack.client, order_input("BELT-XPZ-1250", 2, 22.0, autonomy=Autonomy.AUTO),
                                    n=unique(), task_queue=stack.task_queue)
    before = stack.stock.on_hand.get("BELT-XPZ-1250", 0)
    result = await result_of(handle)
    assert result.status == PartOrderStatus.RECEIVED
    assert result.approval.state == ApprovalState.NOT_REQUIRED
    assert result.po_number.startswith("PO-plant1:BELT-XPZ-1250:")
    assert len(stack.supplier_orders(result.po_number)) == 1
    assert stack.stock.on_hand["BELT-XPZ-1250"] == before + 2


async def test_above_limit_waits_refuses_wrong_people_then_an_approver_completes_it(stack: Stack) -> None:
    handle = await start_part_order(stack.client, order_input("BRG-6308-ZZ", 20, 38.0, autonomy=Autonomy.AUTO),
                                    n=unique(), task_queue=stack.task_queue)
    status = await wait_state(handle, ApprovalState.PENDING)
    assert status.amount == 760.0 and status.roles == ("buyer",)
    po = await handle.query(PartOrderWorkflow.current_po_number)
    assert stack.supplier_orders(po) == []  # nothing ordered while it waits

    # Pending approvals are listable through the ApprovalState search attribute.
    async def listed() -> bool:
        query = f'ApprovalState = "pending" AND WorkflowId = "{handle.id}"'
        return [w.id async for w in stack.client.list_workflows(query)] == [handle.id]

    await eventually(listed)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await vote(handle, "alice", "buyer")
    assert "separation of duties" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await vote(handle, "oscar", "operator")
    assert "role 'operator' may not approve" in str(refused.value.cause)

    status = await vote(handle, "bob", "buyer", comment="needed for mill-1")
    assert status.state == ApprovalState.APPROVED
    result = await result_of(handle)
    assert result.status == PartOrderStatus.RECEIVED
    assert [v.user for v in result.approval.votes] == ["bob"]
    orders = stack.supplier_orders(po)
    assert len(orders) == 1 and orders[0]["order"]["status"] == "shipped"


async def test_rejection_needs_a_comment_and_ends_without_an_order(stack: Stack) -> None:
    handle = await start_part_order(stack.client, order_input("FILTER-HYD-10U", 12, 65.0),
                                    n=unique(), task_queue=stack.task_queue)
    await wait_state(handle, ApprovalState.PENDING)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await vote(handle, "bob", "buyer", approve=False)
    assert "rejection needs a comment" in str(refused.value.cause)
    await vote(handle, "bob", "buyer", approve=False, comment="we have 20 in the other store")
    result = await result_of(handle)
    assert result.status == PartOrderStatus.REJECTED
    assert "other store" in result.approval.reason
    assert stack.supplier_orders(result.po_number) == []


async def test_expensive_order_needs_two_distinct_managers_within_their_limit(stack: Stack) -> None:
    handle = await start_part_order(stack.client, order_input("SPINDLE-CART-24K", 6, 4200.0),
                                    n=unique(), task_queue=stack.task_queue)
    status = await wait_state(handle, ApprovalState.PENDING)
    assert status.min_approvers == 2 and status.tier == "board"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await vote(handle, "bob", "buyer")
    assert "may not approve" in str(refused.value.cause)
    assert (await vote(handle, "carol", "plant_manager")).state == ApprovalState.PENDING
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await vote(handle, "carol", "plant_manager")
    assert "already voted" in str(refused.value.cause)
    await vote(handle, "dave", "plant_manager")
    result = await result_of(handle)
    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1


async def test_role_limit_refuses_an_amount_above_it(stack: Stack) -> None:
    # A buyer may sign up to 1000: with the policy asking for a buyer, 1520 EUR is above that.
    inp = order_input("BRG-6308-ZZ", 40, 38.0).model_copy(update={"requirement": ApprovalRequirement(roles=("buyer",))})
    handle = await start_part_order(stack.client, inp, n=unique(), task_queue=stack.task_queue)
    await wait_state(handle, ApprovalState.PENDING)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await vote(handle, "bob", "buyer")
    assert "may approve up to 1000 EUR; this request is 1520 EUR" in str(refused.value.cause)
    await vote(handle, "carol", "plant_manager")
    assert (await result_of(handle)).status == PartOrderStatus.RECEIVED


async def test_same_problem_twice_opens_one_workflow(stack: Stack) -> None:
    n = unique()
    first = await start_part_order(stack.client, order_input("BRG-6308-ZZ", 20, 38.0), n=n,
                                   task_queue=stack.task_queue)
    second = await start_part_order(stack.client, order_input("BRG-6308-ZZ", 20, 38.0), n=n,
                                    task_queue=stack.task_queue)
    assert first.id == second.id and first.result_run_id == second.result_run_id
    await wait_state(first, ApprovalState.PENDING)
    await vote(first, "bob", "buyer")
    result = await result_of(first)
    assert len(stack.supplier_orders(result.po_number)) == 1


async def test_partner_refusal_escalates_to_a_person_with_the_reason(stack: Stack) -> None:
    handle = await start_part_order(
        stack.client, order_input("BELT-XPZ-1250", 1, 22.0, autonomy=Autonomy.AUTO, currency="XYZ"),
        n=unique(), task_queue=stack.task_queue,
    )
    status = await wait_state(handle, ApprovalState.ATTENTION)
    assert "HTTP 422" in status.reason and "currency 'XYZ' not accepted" in status.reason
    assert any(n.workflow_id == handle.id and "currency 'XYZ'" in n.message for n in stack.notes)
    await handle.execute_update(
        PartOrderWorkflow.resolve, AttentionDecision(user="bob", role="buyer", retry=False, comment="wrong currency, reorder")
    )
    result = await result_of(handle)
    assert result.status == PartOrderStatus.ABANDONED
    assert "currency 'XYZ'" in result.approval.reason
    assert stack.supplier_orders(result.po_number) == []


async def test_supplier_5xx_and_timeouts_are_retried_into_one_order(stack: Stack) -> None:
    knobs = stack.partners.supplier.app.state.knobs
    knobs.update({"error_rate": 0.6, "seed": 7})
    try:
        handle = await start_part_order(
            stack.client, order_input("THERMO-K-300", 3, 48.0, autonomy=Autonomy.AUTO),
            n=unique(), task_queue=stack.task_queue,
        )
        result = await result_of(handle)
    finally:
        knobs.update({"error_rate": 0.0})
    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1

    # Slower than the client's 3 s timeout: the first attempts time out, later ones succeed.
    knobs.update({"latency_s": 3.5})
    try:
        handle = await start_part_order(
            stack.client, order_input("THERMO-K-300", 4, 48.0, autonomy=Autonomy.AUTO),
            n=unique(), task_queue=stack.task_queue,
        )

        async def retried() -> bool:
            desc = await handle.describe()
            pending = desc.raw_description.pending_activities
            return bool(pending) and pending[0].attempt >= 2

        await eventually(retried, timeout_s=90)
    finally:
        knobs.update({"latency_s": 0.0})
    result = await result_of(handle)
    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1


async def test_readable_in_the_temporal_ui(stack: Stack) -> None:
    inp = order_input("BRG-6308-ZZ", 20, 38.0).model_copy(update={"explanation": "stock below reorder point"})
    handle = await start_part_order(stack.client, inp, n=unique(), task_queue=stack.task_queue)
    await wait_state(handle, ApprovalState.PENDING)
    desc = await handle.describe()
    assert await desc.static_summary() == "Order 20 x BRG-6308-ZZ from reference (760 EUR)"
    details = await desc.static_details() or ""
    assert "stock below reorder point" in details and inp.decision_id in details
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details.startswith("Waiting for approval of Order 20 × BRG-6308-ZZ from reference — 760.00 EUR")
    assert desc.typed_search_attributes[APPROVAL_STATE] == "pending"
    await vote(handle, "bob", "buyer", approve=False, comment="duplicate of another order")
    await result_of(handle)

    # The dev server was started with its Web UI on a loopback port and a SQLite file.
    async with httpx.AsyncClient() as http:
        assert (await http.get(stack.temporal.ui_url)).status_code == 200
    assert stack.temporal.db_file.exists()


async def test_supplier_down_past_the_retries_asks_a_person_who_can_retry(stack: Stack) -> None:
    knobs = stack.partners.supplier.app.state.knobs
    knobs.update({"error_rate": 1.0})
    try:
        handle = await start_part_order(
            stack.client, order_input("BRG-6205-2RS", 10, 14.5, autonomy=Autonomy.AUTO),
            n=unique(), task_queue=stack.task_queue,
        )
        status = await wait_state(handle, ApprovalState.ATTENTION)
    finally:
        knobs.update({"error_rate": 0.0})
    assert f"gave up after {FAST_RETRY.max_attempts} attempts" in status.reason and "HTTP 503" in status.reason
    await handle.execute_update(
        PartOrderWorkflow.resolve, AttentionDecision(user="bob", role="buyer", retry=True, comment="supplier is back")
    )
    result = await result_of(handle)
    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1


async def test_the_same_proposal_twice_opens_one_workflow_carrying_the_decision(stack: Stack) -> None:
    proposed = ProposedAction(
        action=OrderParts(supplier="reference", lines=(PartLine(sku="BELT-XPZ-1250", quantity=40, unit_price=22.0),)),
        autonomy=Autonomy.APPROVE,
        dedup_key=unique("stock-low:BELT-XPZ-1250:"),
        estimated_cost=880.0,
        explanation="belt stock below reorder point",
    )
    first = await start_for_proposal(stack.client, proposed, site="plant1", decision_id="dec-1", approval=POLICY,
                                     task_queue=stack.task_queue)
    second = await start_for_proposal(stack.client, proposed, site="plant1", decision_id="dec-2", approval=POLICY,
                                      task_queue=stack.task_queue)
    assert first.id == second.id and first.result_run_id == second.result_run_id
    await wait_state(first, ApprovalState.PENDING)
    await vote(first, "bob", "buyer", approve=False, comment="order from the framework contract instead")
    result = await result_of(first)
    assert result.decision_id == "dec-1"  # the first decision opened it; the repeat changed nothing
    assert result.status == PartOrderStatus.REJECTED and stack.supplier_orders(result.po_number) == []


async def test_supplier_decline_asks_a_buyer_then_a_new_confirmation_continues(stack: Stack) -> None:
    knobs = stack.partners.supplier.app.state.knobs
    # The supplier stays silent for the whole test, which speaks for it: a repeated (idempotent)
    # order after the retry must not let the reference supplier's own callbacks race ours.
    knobs.update({"confirm_delay_s": None})
    try:
        handle = await start_part_order(
            stack.client, order_input("FILTER-HYD-10U", 2, 65.0, autonomy=Autonomy.AUTO),
            n=unique(), task_queue=stack.task_queue,
        )
        po = await handle.query(PartOrderWorkflow.current_po_number)

        async def ordered() -> bool:
            return bool(stack.supplier_orders(po))

        await eventually(ordered)

        async def supplier_says(kind: EventType, payload: dict[str, object]) -> int:
            event = CallbackEvent(event_id=unique("ev-"), type=kind, source="supplier",
                                  occurred_at=datetime.now(UTC), po_number=po, payload=payload)
            body = event.model_dump_json().encode()
            async with httpx.AsyncClient(base_url=stack.intake_url) as http:
                headers = signature_headers(SECRETS["supplier"], body, datetime.now(UTC))
                return (await http.post("/callbacks/supplier", content=body, headers=headers)).status_code

        declined = {"accepted": False, "comment": "out of stock until May"}
        assert await supplier_says(EventType.ORDER_CONFIRMED, declined) == 202
        status = await wait_state(handle, ApprovalState.ATTENTION)
        assert status.reason == f"supplier declined {po}: out of stock until May"
        await handle.execute_update(
            PartOrderWorkflow.resolve, AttentionDecision(user="bob", role="buyer", retry=True, comment="agreed a substitute by phone")
        )
        assert await supplier_says(EventType.ORDER_CONFIRMED, {"supplier_order_id": "SO-X"}) == 202
        assert await supplier_says(EventType.ORDER_SHIPPED, {"supplier_order_id": "SO-X", "carrier": "DHL"}) == 202
        result = await result_of(handle)
        assert result.status == PartOrderStatus.RECEIVED and result.shipment_id == "SO-X"
        assert len(stack.supplier_orders(po)) == 1
    finally:
        knobs.update({"confirm_delay_s": 0.1})


async def test_a_signed_event_that_can_never_be_handled_is_refused_for_good(stack: Stack) -> None:
    """``order.confirmed`` without a PO number: 422 (do not retry), not 503 (retry later)."""
    event = CallbackEvent(event_id=unique("ev-"), type=EventType.ORDER_CONFIRMED, source="supplier",
                          occurred_at=datetime.now(UTC), payload={"supplier_order_id": "SO-1"})
    body = event.model_dump_json().encode()
    async with httpx.AsyncClient(base_url=stack.intake_url) as http:
        headers = signature_headers(SECRETS["supplier"], body, datetime.now(UTC))
        response = await http.post("/callbacks/supplier", content=body, headers=headers)
    assert response.status_code == 422
    assert "without po_number" in response.json()["reason"] and "retry later" not in response.text
