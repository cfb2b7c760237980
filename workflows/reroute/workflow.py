"""Reroute: constrain the degraded machine, move its queued jobs to capable machines (least delay
first), wait for the repair, then move what has not started back and release the constraint.

Deterministic workflow code: temporalio, stdlib and our models only; activities called by name.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import clock as plant_clock
    from workflows.approval import ApprovalGated, call_partner, partner_retry_policy
    from workflows.models import (
        ConstraintChange,
        JobMove,
        MoveOrder,
        RepairDone,
        RerouteInput,
        RerouteResult,
        RerouteSituation,
        RerouteStatus,
    )
    from workflows.reroute.planning import plan_moves

_ROLES = ("production_planner", "maintenance_lead")


@workflow.defn(name="Reroute")
class RerouteWorkflow(ApprovalGated):
    def __init__(self) -> None:
        super().__init__()
        self.moves: tuple[JobMove, ...] = ()
        self.repaired: RepairDone | None = None

    @workflow.signal(name="repair_done")
    def repair_done(self, done: RepairDone) -> None:
        self.repaired = done

    @workflow.query(name="moves")
    def planned_moves(self) -> tuple[JobMove, ...]:
        return self.moves

    @workflow.run
    async def run(self, inp: RerouteInput) -> RerouteResult:
        wf_id = workflow.info().workflow_id
        self.clock = inp.clock
        asset = inp.action.from_asset
        subject = f"reroute work off {asset}"
        self.skip_approval("rerouting is reversible and needs no approval")
        constraint = ConstraintChange(asset_id=asset, reason=inp.action.reason or "degraded")

        ok, _ = await call_partner(self, "set_constraint", constraint, None,
                                   retry=inp.retry, subject=subject, roles=_ROLES)
        if not ok:
            return RerouteResult(workflow_id=wf_id, status=RerouteStatus.CANCELLED, decision_id=inp.decision_id)
        ok, situation = await call_partner(self, "get_situation", asset, RerouteSituation,
                                           retry=inp.retry, subject=subject, roles=_ROLES)
        if not ok:
            return RerouteResult(workflow_id=wf_id, status=RerouteStatus.CANCELLED, decision_id=inp.decision_id)
        planned, unplaced = plan_moves(situation, from_asset=asset, capability=inp.action.capability)
        done: list[JobMove] = []
        for move in planned:
            ok, _ = await call_partner(
                self, "move_job", MoveOrder(job_id=move.job_id, to_asset=move.to_machine,
                                            idempotency_key=f"{wf_id}:{move.job_id}:out"),
                bool, retry=inp.retry, subject=subject, roles=_ROLES,
            )
            if ok:
                done.append(move)
        self.moves = tuple(done)
        if unplaced:
            await self.notify(_ROLES, subject, f"No capable machine for jobs {', '.join(unplaced)}; they stay on {asset}.")
        workflow.set_current_details(
            f"{len(done)} job(s) moved off {asset}: "
            + ", ".join(f"{m.job_id}->{m.to_machine}" for m in done)
            + (f"; unplaced: {', '.join(unplaced)}" if unplaced else "")
            + "; waiting for the repair"
        )

        try:
            await plant_clock.wait_condition(
                self.clock, lambda: self.repaired is not None, timedelta(seconds=inp.repair_timeout_s)
            )
        except TimeoutError:
            await self.notify(_ROLES, subject, f"{asset} not reported repaired; its constraint stays until then.")
            await workflow.wait_condition(lambda: self.repaired is not None)

        # Lift the constraint first: the MES refuses to queue work on a constrained machine.
        await call_partner(self, "release_constraint", constraint, None,
                           retry=inp.retry, subject=subject, roles=_ROLES)
        moved_back: list[str] = []
        if inp.move_back:
            for move in done:
                try:
                    await workflow.execute_activity(
                        "move_job",
                        MoveOrder(job_id=move.job_id, to_asset=asset, idempotency_key=f"{wf_id}:{move.job_id}:back"),
                        result_type=bool,
                        start_to_close_timeout=timedelta(seconds=inp.retry.timeout_s),
                        retry_policy=partner_retry_policy(inp.retry),
                    )
                    moved_back.append(move.job_id)
                except ActivityError:
                    # Started or finished on the other machine: it stays there, which is fine.
                    pass
        status = RerouteStatus.RESTORED if done or unplaced else RerouteStatus.NOTHING_TO_MOVE
        workflow.set_current_details(f"{asset} repaired; {len(moved_back)} job(s) moved back, constraint released")
        return RerouteResult(
            workflow_id=wf_id, status=status, moves=self.moves, unplaced=unplaced,
            moved_back=tuple(moved_back), decision_id=inp.decision_id,
        )
