"""Part order: PO number -> approval by cost tier -> supplier order -> confirmation -> shipment -> stock.

Deterministic workflow code: temporalio, stdlib and our models only. Activities are called by
name so this module never imports httpx.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from policies.models import Autonomy
    from workflows import clock as plant_clock
    from workflows.approval import ApprovalGated, call_partner
    from workflows.models import (
        ApprovalContext,
        ApprovalRequest,
        ApprovalState,
        PartOrderInput,
        PartOrderResult,
        PartOrderStatus,
        PlacedOrder,
        PlaceOrderRequest,
        ShipNotice,
        StockReceipt,
        SupplierConfirmation,
        po_number_for,
    )


@workflow.defn(name="PartOrder")
class PartOrderWorkflow(ApprovalGated):
    def __init__(self) -> None:
        super().__init__()
        self.po_number = ""
        self.status = PartOrderStatus.AWAITING_APPROVAL
        self.confirmation: SupplierConfirmation | None = None
        self.ship_notice: ShipNotice | None = None

    @workflow.signal(name="supplier_confirmed")
    def supplier_confirmed(self, confirmation: SupplierConfirmation) -> None:
        self.confirmation = confirmation

    @workflow.signal(name="supplier_shipped")
    def supplier_shipped(self, notice: ShipNotice) -> None:
        self.ship_notice = notice

    @workflow.query(name="status")
    def current_status(self) -> PartOrderStatus:
        return self.status

    @workflow.query(name="po_number")
    def current_po_number(self) -> str:
        return self.po_number

    def _result(self, inp: PartOrderInput, status: PartOrderStatus, supplier_order_id: str = "") -> PartOrderResult:
        self.status = status
        workflow.set_current_details(f"{self.po_number}: {status.value}")
        return PartOrderResult(
            po_number=self.po_number,
            status=status,
            total=inp.order.total,
            currency=inp.order.currency,
            supplier_order_id=supplier_order_id,
            shipment_id=self.ship_notice.shipment_id if self.ship_notice else "",
            approval=self.approval(),
            decision_id=inp.decision_id,
        )

    @workflow.run
    async def run(self, inp: PartOrderInput) -> PartOrderResult:
        # Before anything else: the PO number, a pure function of the workflow id, is the
        # supplier's idempotency key, so no retry or restarted worker can order twice.
        info = workflow.info()
        self.po_number = po_number_for(info.workflow_id, info.run_id)
        self.clock = inp.clock  # the plant's clock: approval times, how long a callback may take
        order = inp.order
        total = order.total
        subject = order.in_words()  # words on the card; the PO number is in what it creates
        approver_roles = inp.approval.tiers[0].roles
        buyer_roles = inp.requirement.roles if inp.requirement else approver_roles

        if inp.autonomy == Autonomy.AUTO and total <= inp.approval.auto_approve_limit:
            self.skip_approval(f"{total:g} {order.currency} within the auto limit {inp.approval.auto_approve_limit:g}")
        else:
            status = await self.await_approval(
                ApprovalRequest(
                    subject=subject,
                    requested_by=inp.requested_by,
                    amount=total,
                    currency=order.currency,
                    policy=inp.approval,
                    requirement=inp.requirement,
                    context=ApprovalContext(
                        kind="part_order", site=inp.site, asset_id=inp.asset_id,
                        decision_id=inp.decision_id, explanation=inp.explanation, evidence=inp.evidence,
                        creates=f"purchase order {self.po_number} to {order.supplier}: "
                        + ", ".join(
                            f"{line.quantity:,} × {line.description or line.sku}"
                            + (f" ({line.sku})" if line.description else "")
                            for line in order.lines
                        ),
                    ),
                )
            )
            if status.state == ApprovalState.REJECTED:
                return self._result(inp, PartOrderStatus.REJECTED)
            if status.state == ApprovalState.CANCELLED:
                return self._result(inp, PartOrderStatus.CANCELLED)

        self.status = PartOrderStatus.ORDERING
        workflow.set_current_details(f"Ordering {self.po_number} from {order.supplier}")
        ok, placed = await call_partner(
            self,
            "place_order",
            PlaceOrderRequest(po_number=self.po_number, site=inp.site, order=order),
            PlacedOrder,
            retry=inp.retry,
            subject=subject,
            roles=buyer_roles,
        )
        if not ok:
            return self._result(inp, PartOrderStatus.ABANDONED)
        assert isinstance(placed, PlacedOrder)

        self.status = PartOrderStatus.AWAITING_CONFIRMATION
        workflow.set_current_details(f"{self.po_number} sent as {placed.supplier_order_id}; waiting for confirmation")
        confirmed_on_order = placed.status in ("confirmed", "shipped")
        while not confirmed_on_order:
            await self._await_callback(lambda: self.confirmation is not None, inp, "confirmation", buyer_roles, subject)
            if self.confirmation is None or self.confirmation.accepted:
                break
            # Declined: a buyer settles it with the supplier, then waits for a new confirmation.
            reason = f"supplier declined {self.po_number}: {self.confirmation.comment or 'no reason given'}"
            if not await self.await_attention(subject, reason, buyer_roles):
                return self._result(inp, PartOrderStatus.ABANDONED, placed.supplier_order_id)
            self.confirmation = None

        self.status = PartOrderStatus.AWAITING_SHIPMENT
        workflow.set_current_details(f"{self.po_number} confirmed; waiting for the ship notice")
        if placed.status != "shipped":
            await self._await_callback(lambda: self.ship_notice is not None, inp, "ship notice", buyer_roles, subject)

        self.status = PartOrderStatus.RECEIVING
        await workflow.execute_activity(
            "receive_into_stock",
            StockReceipt(ref=self.po_number, lines=order.lines),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        return self._result(inp, PartOrderStatus.RECEIVED, placed.supplier_order_id)

    async def _await_callback(
        self, arrived: Any, inp: PartOrderInput, what: str, roles: tuple[str, ...], subject: str
    ) -> None:
        """Wait for a supplier callback; when it is late, ask the supplier and tell the buyer."""
        while True:
            try:
                await plant_clock.wait_condition(
                    self.clock, arrived, timedelta(seconds=inp.confirmation_timeout_s)
                )
                return
            except TimeoutError:
                pass
            # A lost callback must not leave the order hanging: the supplier's own record decides.
            ok, state = await call_partner(
                self, "get_order_status", self.po_number, str,
                retry=inp.retry, subject=subject, roles=roles,
            )
            if ok and state in ("confirmed", "shipped") and self.confirmation is None:
                self.confirmation = SupplierConfirmation(po_number=self.po_number, comment="from supplier record")
            if ok and state == "shipped" and self.ship_notice is None:
                self.ship_notice = ShipNotice(po_number=self.po_number)
            if arrived():
                return
            await self.notify(roles, subject, f"No {what} from the supplier for {self.po_number} yet (state: {state}).")
