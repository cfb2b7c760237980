"""Review: put a flagged asset before the role that owns it and wait until a person closes it.

A ``flag_for_review`` (the compressor's efficiency drift, with the payback of a replacement) buys
nothing and changes nothing on the floor, yet someone must look at it: the review is an item in
the one inbox (state ``review``, found through the ``ApprovalState`` search attribute like every
approval), sent to the asset's owning role with the reason and the evidence, and it stays there
until a person of that role closes it with a comment (the ``close`` Update). No deadline closes it.
The result carries who closed it and what they said, for the decision log.

Deterministic workflow code: temporalio, stdlib and our models only.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.approval import ApprovalGated
    from workflows.models import (
        ApprovalContext,
        ApprovalRequest,
        ApprovalState,
        ApprovalStatus,
        NotificationKind,
        RecordedVote,
        ReviewClosing,
        ReviewInput,
        ReviewResult,
        comment_too_long,
    )


@workflow.defn(name="Review")
class ReviewWorkflow(ApprovalGated):
    def __init__(self) -> None:
        super().__init__()
        self.closing: ReviewClosing | None = None

    @workflow.update(name="close")
    async def close(self, closing: ReviewClosing) -> ApprovalStatus:
        now = await self.plant_now()  # the plant's one clock (workflows/clock.py)
        if self.gate.state != ApprovalState.REVIEW:  # closed by another person meanwhile
            raise ApplicationError(f"nothing to close: this review is {self.gate.state.value}",
                                   type="ApprovalRefused", non_retryable=True)
        self.closing = closing
        gate = self.gate
        gate.votes.append(
            RecordedVote(user=closing.user, role=closing.role, approve=True, comment=closing.comment, at=now)
        )
        gate.state = ApprovalState.CLOSED
        gate.reason = f"closed by {closing.user} ({closing.role}): {closing.comment}"
        self._publish_state()
        return gate.status()

    @close.validator
    def _validate_close(self, closing: ReviewClosing) -> None:
        refusal = comment_too_long(closing.comment)
        if refusal is None and self.gate.state != ApprovalState.REVIEW:
            refusal = f"nothing to close: this review is {self.gate.state.value}"
        if refusal is None and closing.role not in self.gate.roles:
            refusal = (
                f"role {closing.role!r} may not close this review; it is for: {', '.join(self.gate.roles)}"
            )
        if refusal is None and not closing.comment.strip():
            refusal = "say what you found or did in the comment: a review is closed with one"
        if refusal:
            raise ApplicationError(refusal, type="ApprovalRefused", non_retryable=True)

    @workflow.run
    async def run(self, inp: ReviewInput) -> ReviewResult:
        self.clock = inp.clock  # the plant's clock: when it was opened and closed
        action = inp.action
        subject = f"Review: {action.subject}"
        gate = self.gate
        gate.request = ApprovalRequest(
            subject=subject,
            requested_by=inp.requested_by,
            policy=inp.approval,
            context=ApprovalContext(
                kind="review", site=inp.site, asset_id=action.asset_id, decision_id=inp.decision_id,
                explanation=inp.explanation or action.detail,
                evidence={**action.figures, **inp.evidence},
            ),
        )
        gate.opened_at = await self.plant_now()
        gate.roles = (inp.owner_role,)
        gate.min_approvers = 1
        gate.state = ApprovalState.REVIEW
        self._publish_state()
        workflow.set_current_details(f"Waiting for {inp.owner_role} to review and close: {action.subject}")
        await self.notify(
            gate.roles, subject,
            f"{subject} is yours to look at ({inp.owner_role}): {inp.explanation or action.detail} "
            "Close it in the inbox with what you found or decided.",
            kind=NotificationKind.ATTENTION,
        )
        await workflow.wait_condition(lambda: gate.state == ApprovalState.CLOSED)
        await workflow.wait_condition(workflow.all_handlers_finished)
        closing = self.closing
        assert closing is not None
        workflow.set_current_details(gate.reason)
        return ReviewResult(
            decision_id=inp.decision_id, approval=gate.status(), reason=closing.comment,
        )
