"""Work order: (approval if the policy asks) -> one CMMS work order -> completion callback.

For problems that need a person at the machine rather than a planned stop: an instrument check
after a sensor fault, a P1 work order when vibration stays above its limit. The work order is due
by its priority (P1 within 4 h ... P4 within a week); our workflow id and run are its external
reference, so a retried call or a second start never opens a second work order, while the same
problem coming back after the first order closed (a new run) opens a new one.

Deterministic workflow code: temporalio, stdlib and our models only; activities called by name.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policies.models import Autonomy, Priority, ScheduleMaintenance
    from workflows.approval import (
        ApprovalGated,
        await_work_order_completion,
        call_partner,
        is_this_run,
    )
    from workflows.models import (
        ApprovalContext,
        ApprovalRequest,
        ApprovalState,
        CreatedWorkOrder,
        Window,
        WorkOrderCompletion,
        WorkOrderInput,
        WorkOrderResult,
        WorkOrderSpec,
        WorkOrderStatus,
        work_order_ref,
    )

#: How soon a work order of each priority must be done.
DUE = {Priority.P1: 4.0, Priority.P2: 8.0, Priority.P3: 72.0, Priority.P4: 168.0}


@workflow.defn(name="WorkOrder")
class WorkOrderWorkflow(ApprovalGated):
    def __init__(self) -> None:
        super().__init__()
        self.work_order_id = ""
        self.completion: WorkOrderCompletion | None = None
        self.status = WorkOrderStatus.OPENING

    @workflow.signal(name="work_order_completed")
    def work_order_completed(self, completion: WorkOrderCompletion) -> None:
        if is_this_run(completion.external_ref):  # a late callback of an earlier run wakes nothing
            self.completion = completion

    @workflow.query(name="status")
    def current_status(self) -> WorkOrderStatus:
        return self.status

    def _result(self, inp: WorkOrderInput, status: WorkOrderStatus, reason: str = "") -> WorkOrderResult:
        self.status = status
        workflow.set_current_details(f"{inp.action.title}: {status.value}")
        return WorkOrderResult(
            status=status,
            work_order_id=self.work_order_id,
            decision_id=inp.decision_id,
            approval=self.approval(),
            reason=reason or self.gate.reason,
            notes=self.completion.notes if self.completion else "",
        )

    @workflow.run
    async def run(self, inp: WorkOrderInput) -> WorkOrderResult:
        action = inp.action
        self.clock = inp.clock  # the plant's clock: approval times, the due window
        subject = f"{action.priority.value} work order on {action.asset_id}: {action.title}"
        roles = inp.requirement.roles if inp.requirement else inp.approval.tiers[0].roles
        if inp.autonomy == Autonomy.APPROVE:
            status = await self.await_approval(
                ApprovalRequest(
                    subject=subject,
                    requested_by=inp.requested_by,
                    amount=inp.estimated_cost,
                    currency=inp.currency,
                    policy=inp.approval,
                    requirement=inp.requirement,
                    context=ApprovalContext(
                        kind="work_order", site=inp.site, asset_id=action.asset_id,
                        decision_id=inp.decision_id, explanation=inp.explanation,
                        evidence=inp.evidence, priority=action.priority.value,
                        creates=f"CMMS work order ({action.priority.value}) on {action.asset_id}: {action.title}",
                    ),
                )
            )
            if status.state == ApprovalState.REJECTED:
                return self._result(inp, WorkOrderStatus.REJECTED)
            if status.state == ApprovalState.CANCELLED:
                return self._result(inp, WorkOrderStatus.CANCELLED)
        else:
            self.skip_approval(f"{inp.autonomy.value}: the policy needs no sign-off for this work order")

        now = await self.plant_now()
        due_h = DUE[action.priority]
        # The CMMS speaks in jobs with a window: "do it between now and the due time".
        job = ScheduleMaintenance(
            asset_id=action.asset_id, task=action.title, duration_h=min(due_h, 2.0), priority=action.priority
        )
        ok, created = await call_partner(
            self, "create_work_order",
            WorkOrderSpec(
                external_ref=work_order_ref(workflow.info().workflow_id, workflow.info().run_id),
                action=job,
                window=Window(start=now, end=now + timedelta(hours=due_h), name=f"due within {due_h:g} h"),
                description="\n".join(x for x in (action.description, inp.explanation) if x),
                evidence=inp.evidence,
            ),
            CreatedWorkOrder, retry=inp.retry, subject=subject, roles=roles,
        )
        if not ok:
            return self._result(inp, WorkOrderStatus.ABANDONED)
        self.work_order_id = created.work_order_id
        self.status = WorkOrderStatus.OPEN
        workflow.set_current_details(f"Work order {self.work_order_id} open; waiting for completion")
        self.completion = await await_work_order_completion(
            self, lambda: self.completion, self.work_order_id,
            timeout_s=inp.completion_timeout_s, retry=inp.retry, subject=subject, roles=roles,
        )
        return self._result(inp, WorkOrderStatus.COMPLETED)
