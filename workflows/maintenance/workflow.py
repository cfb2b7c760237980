"""Maintenance: planned window -> parts reserved -> approval (of the full cost, the parts to order
included) -> child part order for what stock lacks -> one CMMS work order -> completion callback
-> the asset reports healthy again.

Deterministic workflow code: temporalio, stdlib and our models only; activities called by name.
Its times (the window lookup, "has the window passed", the health deadline) are the plant's clock
from the input (``workflows/clock.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from policies.models import Autonomy, OrderParts
    from workflows import clock as plant_clock
    from workflows.approval import (
        ApprovalGated,
        await_work_order_completion,
        call_partner,
        is_this_run,
    )
    from workflows.maintenance.planning import pick_window
    from workflows.models import (
        ApprovalContext,
        ApprovalRequest,
        ApprovalState,
        CreatedWorkOrder,
        HealthConfirmation,
        MaintenanceInput,
        MaintenanceResult,
        MaintenanceStatus,
        PartOrderInput,
        PartOrderResult,
        PartOrderStatus,
        PartsUsed,
        RepairDone,
        ReserveRequest,
        ScheduleQuery,
        StockCheck,
        Window,
        WorkOrderCompletion,
        WorkOrderSpec,
        part_order_id,
        reroute_id,
        run_tag,
        work_order_ref,
    )
    from workflows.part_order.workflow import PartOrderWorkflow

_LOCAL = RetryPolicy(maximum_interval=timedelta(seconds=30))
#: On a simulated clock the asset reports once per step (a plant hour), not once a second: the
#: health deadline leaves room for this many reports (an agent re-commissions on fresh readings).
_SIM_HEALTH_REPORTS = 48


@workflow.defn(name="Maintenance")
class MaintenanceWorkflow(ApprovalGated):
    def __init__(self) -> None:
        super().__init__()
        self.window: Window | None = None
        self.work_order_id = ""
        self.completion: WorkOrderCompletion | None = None
        self.health: HealthConfirmation | None = None
        self.child_orders: list[str] = []
        self.window_moved = ""  # why the window is not the one first planned (shown on the card)

    @workflow.signal(name="work_order_completed")
    def work_order_completed(self, completion: WorkOrderCompletion) -> None:
        if is_this_run(completion.external_ref):  # a late callback of an earlier run wakes nothing
            self.completion = completion

    @workflow.signal(name="asset_health")
    def asset_health(self, report: HealthConfirmation) -> None:
        self.health = report

    @workflow.query(name="window")
    def planned_window(self) -> Window | None:
        return self.window

    def _result(self, inp: MaintenanceInput, status: MaintenanceStatus, reason: str = "") -> MaintenanceResult:
        workflow.set_current_details(f"{inp.action.asset_id}: {status.value}. {reason}".strip())
        return MaintenanceResult(
            workflow_id=workflow.info().workflow_id,
            status=status,
            window=self.window,
            work_order_id=self.work_order_id,
            child_orders=tuple(self.child_orders),
            approval=self.approval(),
            reason=reason or self.gate.reason,
            decision_id=inp.decision_id,
        )

    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        action = inp.action
        self.clock = inp.clock
        wf_id = workflow.info().workflow_id
        subject = f"{action.task} on {action.asset_id}"
        roles = inp.requirement.roles if inp.requirement else inp.approval.tiers[0].roles

        if not await self._plan_window(inp, subject, roles):
            return self._result(inp, MaintenanceStatus.ABANDONED, "no planned window found")

        # Runs started before this change ordered the parts before asking and never booked the
        # parts they used; they replay that way.
        approve_first = workflow.patched("maintenance-approval-before-parts")
        # One reservation per job: a later run of this workflow id (the next bearing) is another job.
        job_ref = work_order_ref(wf_id, workflow.info().run_id) if approve_first else wf_id
        check = StockCheck()
        if action.parts:
            check = await workflow.execute_activity(
                "reserve_parts",
                ReserveRequest(ref=job_ref, lines=action.parts),
                result_type=StockCheck,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_LOCAL,
            )
        if not approve_first and check.missing and not await self._order_missing(inp, check, subject, roles):
            return self._result(inp, MaintenanceStatus.ABANDONED, "parts could not be ordered")

        ended = await self._approve(inp, check if approve_first else StockCheck(), subject)
        if ended is not None:
            return self._result(inp, ended)
        # Nothing the job needs is bought before the job is approved.
        if approve_first and check.missing and not await self._order_missing(inp, check, subject, roles):
            return self._result(inp, MaintenanceStatus.ABANDONED, "parts could not be ordered")
        # Waiting for people or parts may have eaten the window: plan again from now.
        planned = self.window
        now = await self.plant_now() if planned is not None else None
        if planned is None or now is None or planned.start < now:
            if not await self._plan_window(inp, subject, roles):
                return self._result(inp, MaintenanceStatus.ABANDONED, "no planned window left")
            if planned is not None and now is not None and self.window != planned:
                await self._window_moved(planned, now, check, subject, roles)

        assert self.window is not None
        ok, created = await call_partner(
            self, "create_work_order",
            WorkOrderSpec(
                external_ref=work_order_ref(wf_id, workflow.info().run_id), action=action, window=self.window,
                description=inp.explanation, evidence=inp.evidence,
            ),
            CreatedWorkOrder, retry=inp.retry, subject=subject, roles=roles,
        )
        if not ok:
            return self._result(inp, MaintenanceStatus.ABANDONED)
        self.work_order_id = created.work_order_id
        workflow.set_current_details(
            f"Work order {self.work_order_id} for {self.window.start:%Y-%m-%d %H:%M}; waiting for completion"
        )
        self.completion = await await_work_order_completion(
            self, lambda: self.completion, self.work_order_id,
            timeout_s=inp.completion_timeout_s, retry=inp.retry, subject=subject, roles=roles,
        )
        if approve_first and action.parts:  # the job is done: the parts it used leave the stock
            await workflow.execute_activity(
                "issue_parts",
                PartsUsed(ref=job_ref, lines=action.parts),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_LOCAL,
            )
        return await self._confirm_health(inp, subject, roles)

    def _words(self, window: Window) -> str:
        return f"{window.name}: {window.start:%a %Y-%m-%d %H:%M}–{window.end:%H:%M} ({self.clock.label})"

    async def _window_moved(
        self, planned: Window, now: datetime, check: StockCheck,
        subject: str, roles: tuple[str, ...],
    ) -> None:
        """The job moved from the window on its card: the card and the page now show the window
        the CMMS gets, with why it moved; the approvers are told (new runs only)."""
        assert self.window is not None
        if check.missing and self.child_orders:
            kit = ", ".join(f"{line.quantity} × {line.sku}" for line in check.missing)
            why = f"the parts ({kit}) arrived {now:%Y-%m-%d %H:%M}, after that window began"
        else:
            why = f"that window had begun by {now:%Y-%m-%d %H:%M}, before the job could go"
        self.window_moved = f"moved from {self._words(planned)}: {why}"
        request = self.gate.request
        if request is not None:  # the card shows the window the work order will carry
            self.gate.request = request.model_copy(update={
                "subject": f"{subject} in {self.window.name} {self.window.start:%Y-%m-%d %H:%M}",
                "context": request.context.model_copy(
                    update={"window": self._words(self.window), "window_moved": self.window_moved}
                ),
            })
        workflow.set_current_details(f"Window {self._words(self.window)}; {self.window_moved}")
        if workflow.patched("maintenance-window-moved-notice"):
            await self.notify(roles, subject, f"{subject} now in {self._words(self.window)} ({self.window_moved})")

    async def _approve(self, inp: MaintenanceInput, check: StockCheck, subject: str) -> MaintenanceStatus | None:
        """The job's approval gate; None when it may go on, else how it ended. The amount is the
        job's full cost: its own estimate plus the parts it will order (``check.missing``)."""
        action = inp.action
        prices = {line.sku: line.unit_price for line in action.parts}
        parts_cost = round(sum(line.quantity * (line.unit_price or prices.get(line.sku, 0.0)) for line in check.missing), 2)
        amount = inp.estimated_cost + parts_cost
        # Same rule as part orders: "auto" only within the auto-approve limit; above it a person signs.
        if inp.autonomy == Autonomy.AUTO and amount <= inp.approval.auto_approve_limit:
            self.skip_approval(
                f"policy allows this maintenance without a person "
                f"({amount:g} {inp.currency} within the auto limit)"
            )
            return None
        assert self.window is not None
        creates = f"one CMMS work order: {action.task} ({action.duration_h:g} h)"
        if check.missing:
            ordered = ", ".join(f"{line.quantity} × {line.sku}" for line in check.missing)
            creates += f"; after approval, a part order for {ordered} ({parts_cost:,.2f} {inp.currency})"
        status = await self.await_approval(
            ApprovalRequest(
                subject=f"{subject} in {self.window.name} {self.window.start:%Y-%m-%d %H:%M}",
                requested_by=inp.requested_by,
                amount=amount,
                currency=inp.currency,
                policy=inp.approval,
                requirement=inp.requirement,
                context=ApprovalContext(
                    kind="maintenance", site=inp.site, asset_id=action.asset_id,
                    priority=action.priority.value, decision_id=inp.decision_id,
                    explanation=inp.explanation, evidence=inp.evidence,
                    creates=creates,
                    window=self._words(self.window),
                ),
            )
        )
        if status.state == ApprovalState.REJECTED:
            return MaintenanceStatus.REJECTED
        if status.state == ApprovalState.CANCELLED:
            return MaintenanceStatus.CANCELLED
        return None

    async def _plan_window(self, inp: MaintenanceInput, subject: str, roles: tuple[str, ...]) -> bool:
        action = inp.action
        while True:
            now = await self.plant_now()
            ok, windows = await call_partner(
                self, "get_planned_windows",
                ScheduleQuery(asset_id=action.asset_id, start=now, end=now + timedelta(days=inp.horizon_days)),
                list[Window], retry=inp.retry, subject=subject, roles=roles,
            )
            if not ok:
                return False
            self.window = pick_window(
                windows, duration_h=action.duration_h, now=now,
                latest_start=action.latest_start, earliest_start=action.earliest_start,
            )
            if self.window is not None:
                return True
            limit = f" starting before {action.latest_start:%Y-%m-%d %H:%M}" if action.latest_start else ""
            reason = (
                f"no planned window of {action.duration_h:g} h{limit} in the next {inp.horizon_days:g} days "
                f"for {action.asset_id}: plan a stop in the MES, then retry"
            )
            if not await self.await_attention(subject, reason, roles):
                return False

    async def _order_missing(
        self, inp: MaintenanceInput, check: StockCheck, subject: str, roles: tuple[str, ...]
    ) -> bool:
        """Order what stock could not cover, one child part order per missing SKU, and wait for it."""
        asset = inp.action.asset_id
        for line in check.missing:
            child_id = part_order_id(inp.site, line.sku, f"{asset}-{run_tag(workflow.info().run_id)}")
            self.child_orders.append(child_id)
            workflow.set_current_details(f"Waiting for part order {child_id} ({line.quantity} x {line.sku})")
            result: PartOrderResult = await workflow.execute_child_workflow(
                PartOrderWorkflow.run,
                PartOrderInput(
                    site=inp.site,
                    order=OrderParts(supplier=inp.supplier or "default", lines=(line,), currency=inp.currency),
                    # Small parts go through on the auto limit; above it the order has its own gate.
                    autonomy=Autonomy.AUTO,
                    approval=inp.approval,
                    requested_by=inp.requested_by,
                    decision_id=inp.decision_id,
                    explanation=f"parts for {subject}",
                    retry=inp.retry,
                    clock=inp.clock,
                ),
                id=child_id,
                static_summary=f"Parts for {subject}: {line.quantity} x {line.sku}",
            )
            if result.status != PartOrderStatus.RECEIVED:
                reason = f"part order {result.po_number} ended {result.status.value}: {result.approval.reason}"
                if not await self.await_attention(subject, reason, roles):
                    return False
        return True

    async def _confirm_health(self, inp: MaintenanceInput, subject: str, roles: tuple[str, ...]) -> MaintenanceResult:
        """Wait until the asset is healthy again: ask its health source, again every
        ``health_poll_s``, and take a healthy report signal whenever it arrives (before the work
        order completed too). No single message is needed, so a lost or never-sent signal (an
        orchestrator restarted in between) cannot hang the job."""
        asset = inp.action.asset_id
        timeout_s = inp.health_timeout_s
        if self.clock.simulated:
            timeout_s = max(timeout_s, _SIM_HEALTH_REPORTS * self.clock.step_s)
        deadline = await self.plant_now() + timedelta(seconds=timeout_s)
        workflow.set_current_details(f"Work order {self.work_order_id} done; waiting for {asset} to report healthy")
        while not self._healthy():
            report = await workflow.execute_activity(
                "check_asset_health", asset, result_type=HealthConfirmation,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=_LOCAL,
            )
            # A healthy signal that arrived while the activity ran is not undone by an older answer.
            if report.healthy or not self._healthy():
                self.health = report
            if self._healthy():
                break
            left = (deadline - await self.plant_now()).total_seconds()
            if left <= 0:
                detail = self.health.detail if self.health else "no health report"
                await self.notify(roles, subject, f"{asset} not confirmed healthy after the work order: {detail}")
                return self._result(inp, MaintenanceStatus.CLOSED_UNVERIFIED, f"not confirmed healthy: {detail}")
            try:
                await plant_clock.wait_condition(
                    self.clock, self._healthy, timedelta(seconds=min(inp.health_poll_s, left))
                )
            except TimeoutError:
                pass  # ask again
        await self._end_reroute(inp)
        return self._result(inp, MaintenanceStatus.CLOSED, f"{asset} healthy again")

    def _healthy(self) -> bool:
        return self.health is not None and self.health.healthy

    async def _end_reroute(self, inp: MaintenanceInput) -> None:
        """Tell a reroute of this asset (if one runs) that the repair is done, so work comes back."""
        handle = workflow.get_external_workflow_handle(reroute_id(inp.site, inp.action.asset_id))
        try:
            await handle.signal("repair_done", RepairDone(asset_id=inp.action.asset_id, by=self.work_order_id))
        except FailureError:
            pass  # no reroute running for this asset: nothing to bring back
