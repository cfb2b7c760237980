"""The reusable human-approval gate: rules as a plain class, handlers as a workflow mixin.

A workflow that needs people to sign inherits ``ApprovalGated`` and calls
``await self.await_approval(request)``. People answer through the ``decide`` Update (validated
before it enters history, so a refused vote leaves no trace but a clear error for the caller),
``cancel`` stops the request with a reason, and the ``approval`` query shows the state. The
``ApprovalState`` search attribute lets a UI list everything waiting for a person.

A deadline never approves: it widens who may sign (next tier), notifies, and keeps waiting.

Times (votes, escalations, deadlines, reminders) are in the plant's one clock, ``self.clock``
(``workflows/clock.py``), which each workflow sets from its input before opening a gate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import clock as plant_clock
    from workflows.clock import WALL, PlantClock
    from workflows.models import (
        APPROVAL_STATE_ATTRIBUTE,
        ApprovalContext,
        ApprovalRequest,
        ApprovalState,
        ApprovalStatus,
        ApprovalTier,
        ApprovalVote,
        AttentionDecision,
        CancelRequest,
        Escalation,
        Notification,
        NotificationKind,
        PartnerRetry,
        RecordedVote,
        WorkOrderCompletion,
        comment_too_long,
        work_order_ref,
    )
    from workflows.signers import unmet

APPROVAL_STATE = SearchAttributeKey.for_keyword(APPROVAL_STATE_ATTRIBUTE)
NOTIFY_ACTIVITY = "notify"


class ApprovalGate:
    """State and rules of one approval request. Deterministic: time is passed in."""

    def __init__(self) -> None:
        self.state = ApprovalState.NOT_REQUIRED
        self.request: ApprovalRequest | None = None
        self.tier_index = 0
        self.roles: tuple[str, ...] = ()
        self.min_approvers = 1
        self.votes: list[RecordedVote] = []
        self.escalations: list[Escalation] = []
        self.reason = ""
        self.opened_at: datetime | None = None
        self.deadline_at: datetime | None = None

    @property
    def tiers(self) -> tuple[ApprovalTier, ...]:
        assert self.request is not None
        return self.request.policy.tiers

    def open(self, request: ApprovalRequest, now: datetime) -> None:
        self.request = request
        self.opened_at = now
        self.tier_index = request.policy.tier_index_for(request.amount)
        tier = self.tiers[self.tier_index]
        roles = list(tier.roles)
        min_approvers = tier.min_approvers
        if request.requirement is not None:
            # The policy names who it wants; the cost tier may add people, never remove them.
            roles = list(request.requirement.roles) + [r for r in roles if r not in request.requirement.roles]
            min_approvers = max(min_approvers, request.requirement.min_approvers)
        self.roles = tuple(roles)
        self.min_approvers = min_approvers
        self.state = ApprovalState.PENDING
        self.deadline_at = now + self.deadline

    def unmet(self) -> str | None:
        """Why no set of the declared people can complete this request as it stands; ``None`` if
        some can. Without the people in the policy, only the roles' limits are checked."""
        request = self.request
        if request is None:
            return None
        return unmet(
            self.roles, self.min_approvers, request.amount, request.policy.role_limits,
            request.policy.approvers, request.currency,
        )

    def refusal(self, vote: ApprovalVote) -> str | None:
        """Why ``vote`` may not be cast, in words for the person who tried; ``None`` if it may."""
        too_long = comment_too_long(vote.comment)
        if too_long:
            return too_long
        request = self.request
        if request is None or self.state not in (ApprovalState.PENDING, ApprovalState.ESCALATED):
            return f"nothing to approve: this request is {self.state.value}"
        if vote.role not in self.roles:
            return (
                f"role {vote.role!r} may not approve {request.subject!r}; "
                f"roles that may: {', '.join(self.roles)}"
            )
        limits = request.policy.role_limits
        if limits:
            limit = limits.get(vote.role, 0.0)
            if request.amount > limit:
                return (
                    f"role {vote.role!r} may approve up to {limit:g} {request.currency}; "
                    f"this request is {request.amount:g} {request.currency}: ask a higher role"
                )
        if vote.limit is not None and request.amount > vote.limit:
            return (
                f"{vote.user} may approve up to {vote.limit:g} {request.currency}; "
                f"this request is {request.amount:g} {request.currency}: ask someone with a higher limit"
            )
        if vote.user == request.requested_by:
            return (
                f"{vote.user} requested {request.subject!r} and may not approve it "
                "(separation of duties): ask another approver"
            )
        if any(v.user == vote.user for v in self.votes):
            return f"{vote.user} has already voted on {request.subject!r}; a second vote needs another person"
        if not vote.approve and not vote.comment.strip():
            return "a rejection needs a comment saying why (--comment)"
        return None

    def record(self, vote: ApprovalVote, now: datetime) -> None:
        self.votes.append(
            RecordedVote(user=vote.user, role=vote.role, approve=vote.approve, comment=vote.comment, at=now)
        )
        if not vote.approve:
            self.state = ApprovalState.REJECTED
            self.reason = f"rejected by {vote.user} ({vote.role}): {vote.comment}"
        elif sum(1 for v in self.votes if v.approve) >= self.min_approvers:
            self.state = ApprovalState.APPROVED
            self.reason = "approved by " + ", ".join(v.user for v in self.votes if v.approve)

    def escalate(self, now: datetime, reason: str = "") -> Escalation | None:
        """Widen the approvers to the next tier; ``None`` when there is no higher tier left (the
        escalation is still recorded, with its reason, so an escalated card says why)."""
        current = self.tiers[self.tier_index]
        if self.tier_index + 1 >= len(self.tiers):
            self.deadline_at = None
            self.escalations.append(
                Escalation(
                    at=now, from_tier=current.name, to_tier=current.name, roles=self.roles,
                    reason=(reason or f"no decision within {current.deadline_s:g} s")
                    + f"; no higher tier: still waiting for {', '.join(self.roles)}",
                )
            )
            return None
        self.tier_index += 1
        nxt = self.tiers[self.tier_index]
        self.roles = self.roles + tuple(r for r in nxt.roles if r not in self.roles)
        self.state = ApprovalState.ESCALATED
        escalation = Escalation(
            at=now,
            from_tier=current.name,
            to_tier=nxt.name,
            roles=self.roles,
            reason=reason or f"no decision within {current.deadline_s:g} s",
        )
        self.escalations.append(escalation)
        self.deadline_at = now + self.deadline
        return escalation

    @property
    def deadline(self) -> timedelta:
        return timedelta(seconds=self.tiers[self.tier_index].deadline_s)

    def status(self) -> ApprovalStatus:
        request = self.request
        return ApprovalStatus(
            state=self.state,
            subject=request.subject if request else "",
            amount=request.amount if request else 0.0,
            currency=request.currency if request else "EUR",
            requested_by=request.requested_by if request else "",
            tier=self.tiers[self.tier_index].name if request else "",
            roles=self.roles,
            min_approvers=self.min_approvers,
            votes=tuple(self.votes),
            escalations=tuple(self.escalations),
            reason=self.reason,
            context=request.context if request else ApprovalContext(),
            opened_at=self.opened_at,
            deadline=self.deadline_at if self.state in (ApprovalState.PENDING, ApprovalState.ESCALATED) else None,
        )


class ApprovalGated:
    """Workflow mixin: the ``decide`` / ``cancel`` / ``resolve`` Updates and the ``approval`` query."""

    def __init__(self) -> None:
        self.gate = ApprovalGate()
        self.clock: PlantClock = WALL  # the workflow's run sets its input's clock
        self._attention: str = ""  # reason while a person must look at a partner's refusal
        self._attention_answer: AttentionDecision | None = None
        self._attention_roles: tuple[str, ...] = ()  # who may answer it
        self._state_before_attention = ApprovalState.NOT_REQUIRED
        self._notified = 0  # notifications sent by this run: numbers each one's event id
        self._reminded: set[tuple[int, float]] = set()  # (tier index, seconds before) already reminded

    # ----------------------------------------------------------------- handlers

    @workflow.update(name="decide")
    async def decide(self, vote: ApprovalVote) -> ApprovalStatus:
        now = await self.plant_now()
        # On a simulated clock reading the time waits: another vote may have landed meanwhile.
        refusal = self.gate.refusal(vote) if self.clock.simulated else None
        if refusal:
            raise ApplicationError(refusal, type="ApprovalRefused", non_retryable=True)
        self.gate.record(vote, now)
        self._publish_state()
        return self.gate.status()

    @decide.validator
    def _validate_decide(self, vote: ApprovalVote) -> None:
        refusal = self.gate.refusal(vote)
        if refusal:
            raise ApplicationError(refusal, type="ApprovalRefused", non_retryable=True)

    @workflow.update(name="cancel")
    async def cancel(self, request: CancelRequest) -> ApprovalStatus:
        self.gate.state = ApprovalState.CANCELLED
        self.gate.reason = f"cancelled by {request.user}: {request.reason}"
        self._publish_state()
        return self.gate.status()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        too_long = comment_too_long(request.reason, "reason")
        if too_long:
            raise ApplicationError(too_long, type="ApprovalRefused", non_retryable=True)
        if self.gate.state not in (ApprovalState.PENDING, ApprovalState.ESCALATED):
            raise ApplicationError(
                f"cannot cancel: the approval is {self.gate.state.value}", type="ApprovalRefused"
            )

    @workflow.update(name="resolve")
    async def resolve(self, decision: AttentionDecision) -> str:
        self._attention_answer = decision
        return "retrying" if decision.retry else "abandoned"

    @resolve.validator
    def _validate_resolve(self, decision: AttentionDecision) -> None:
        too_long = comment_too_long(decision.comment)
        if too_long:
            raise ApplicationError(too_long, type="ApprovalRefused", non_retryable=True)
        if not self._attention:
            raise ApplicationError("nothing needs attention in this workflow", type="ApprovalRefused")
        if self._attention_answer is not None:
            raise ApplicationError("already answered; the workflow is acting on it", type="ApprovalRefused")
        if self._attention_roles and decision.role not in self._attention_roles:
            raise ApplicationError(
                f"role {decision.role or '(none)'!r} may not answer this; it needs one of: "
                f"{', '.join(self._attention_roles)}",
                type="ApprovalRefused", non_retryable=True,
            )

    @workflow.query(name="approval")
    def approval(self) -> ApprovalStatus:
        status = self.gate.status()
        if self._attention:
            return status.model_copy(update={
                "state": ApprovalState.ATTENTION, "reason": self._attention,
                "roles": self._attention_roles or status.roles,
            })
        return status

    # ----------------------------------------------------------------- for the workflow body

    async def plant_now(self) -> datetime:
        """The plant's time (``workflow.now()`` on a wall clock; asked of the plant on a sim one)."""
        return await plant_clock.plant_now(self.clock)

    def _publish_state(self) -> None:
        state = ApprovalState.ATTENTION if self._attention else self.gate.state
        workflow.upsert_search_attributes([APPROVAL_STATE.value_set(state.value)])

    async def notify(
        self,
        roles: tuple[str, ...],
        subject: str,
        message: str,
        *,
        kind: NotificationKind = NotificationKind.INFO,
        deadline: datetime | None = None,
    ) -> None:
        """Tell people; a notifier that fails is logged, it never fails the workflow itself
        (the state stays visible through the search attribute and the query).

        Each notification gets an event id unique within the run (a counter, deterministic on
        replay): with the run id it is the sender's idempotency key, so a retried activity or a
        replayed workflow never mails the same recipient twice."""
        info = workflow.info()
        self._notified += 1
        context = self.gate.request.context if self.gate.request is not None else ApprovalContext()
        in_inbox = kind != NotificationKind.INFO or self._attention or self.gate.state in (
            ApprovalState.PENDING, ApprovalState.ESCALATED
        )
        note = Notification(
            workflow_id=info.workflow_id, roles=roles, subject=subject, message=message,
            run_id=info.run_id, event=f"{self._notified}:{kind.value}", kind=kind,
            priority=context.priority, asset_id=context.asset_id, deadline=deadline,
            link_path=f"/approvals/{info.workflow_id}" if in_inbox else f"/workflows/{info.workflow_id}",
        )
        try:
            await workflow.execute_activity(
                NOTIFY_ACTIVITY,
                note,
                start_to_close_timeout=timedelta(seconds=60),
                # A mail server that is down is retried with backoff for about a minute, then the
                # workflow logs it and carries on: the item stays in the inbox either way.
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=60), maximum_attempts=5,
                ),
            )
        except ActivityError as err:
            workflow.logger.warning("notification to %s failed: %s (%s)", ",".join(roles), message, err.cause)

    def skip_approval(self, reason: str) -> None:
        self.gate.state = ApprovalState.NOT_REQUIRED
        self.gate.reason = reason
        self._publish_state()

    async def await_approval(self, request: ApprovalRequest) -> ApprovalStatus:
        """Open the gate and wait until approved, rejected or cancelled. Deadlines only escalate."""
        self.gate.open(request, await self.plant_now())
        self._publish_state()
        workflow.set_current_details(
            f"Waiting for approval of {request.subject}: {request.amount:g} {request.currency}, "
            f"{self.gate.min_approvers} of roles {', '.join(self.gate.roles)}"
        )
        exhausted = False
        if workflow.patched("approval-unmet-escalates"):
            exhausted = await self._escalate_unmet(request)
        # Tell the approvers when the gate opens and remind them before each deadline (workflows
        # started before this change only heard of escalations, and replay as they ran).
        announcing = workflow.patched("approval-notifies-approvers")
        self._reminded = set()  # a second gate in the same run gets its own reminders
        if announcing and not exhausted and self.gate.state == ApprovalState.PENDING:
            await self.notify(
                self.gate.roles, request.subject,
                f"{request.subject} waits for approval: {request.amount:g} {request.currency}, "
                f"{self.gate.min_approvers} of {', '.join(self.gate.roles)}. "
                + (f"Approving creates {request.context.creates}. " if request.context.creates else "")
                + request.context.explanation,
                kind=NotificationKind.APPROVAL_REQUESTED, deadline=self.gate.deadline_at,
            )
        decided = lambda: self.gate.state not in (ApprovalState.PENDING, ApprovalState.ESCALATED)  # noqa: E731
        while True:
            now = await self.plant_now()
            reminder = self._next_reminder(now) if announcing and not exhausted else None
            until: datetime | None = None  # a plant deadline (sim clock), else a wall timeout
            if exhausted:
                timeout: timedelta | None = None
            elif reminder is not None:
                timeout, until = reminder[1] - now, reminder[1]
            elif announcing and self.gate.deadline_at is not None:
                timeout = max(self.gate.deadline_at - now, timedelta(milliseconds=1))
                until = self.gate.deadline_at
            else:
                timeout = self.gate.deadline
            try:
                if self.clock.simulated and until is not None:
                    await plant_clock.wait_until(self.clock, decided, until, now=now)
                else:
                    await plant_clock.wait_condition(self.clock, decided, timeout)
            except TimeoutError:
                if reminder is not None:
                    await self._remind(request, reminder[0])
                    continue
                escalation = self.gate.escalate(await self.plant_now())
                if escalation is None:
                    exhausted = True
                    self.gate.state = ApprovalState.ESCALATED
                    await self.notify(
                        self.gate.roles, request.subject,
                        f"Still waiting for approval of {request.subject}; no higher tier to escalate to.",
                        kind=NotificationKind.ESCALATED,
                    )
                else:
                    await self.notify(
                        escalation.roles, request.subject,
                        f"Approval of {request.subject} escalated from {escalation.from_tier} to "
                        f"{escalation.to_tier}: {escalation.reason}. It will not approve by itself.",
                        kind=NotificationKind.ESCALATED, deadline=self.gate.deadline_at,
                    )
                self._publish_state()
                workflow.set_current_details(
                    f"Escalated: waiting for approval of {request.subject} by {', '.join(self.gate.roles)}"
                )
                continue
            break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.gate.status()

    def _next_reminder(self, now: datetime) -> tuple[float, datetime] | None:
        """The next reminder of the current tier still ahead: (seconds before the deadline, when)."""
        deadline_at = self.gate.deadline_at
        request = self.gate.request
        if deadline_at is None or request is None:
            return None
        tier_s = self.gate.deadline.total_seconds()
        for before in sorted(request.policy.remind_before_s, reverse=True):
            key = (self.gate.tier_index, before)
            at = deadline_at - timedelta(seconds=before)
            if before >= tier_s or key in self._reminded:
                continue
            if at <= now:  # too late for this one (a later, shorter one may still come)
                self._reminded.add(key)
                continue
            return before, at
        return None

    async def _remind(self, request: ApprovalRequest, before: float) -> None:
        self._reminded.add((self.gate.tier_index, before))
        deadline = self.gate.deadline_at
        assert deadline is not None  # reminders exist only while a deadline does
        nxt = self.gate.tier_index + 1 < len(self.gate.tiers)
        then = "it escalates to the next tier" if nxt else "it stays open (no higher tier)"
        await self.notify(
            self.gate.roles, request.subject,
            f"Reminder: {request.subject} still waits for approval by {', '.join(self.gate.roles)}; "
            f"its deadline is {deadline:%Y-%m-%d %H:%M} {self.clock.label} (in {_duration(before)}), then {then}.",
            kind=NotificationKind.REMINDER, deadline=deadline,
        )

    async def _escalate_unmet(self, request: ApprovalRequest) -> bool:
        """A request nobody declared can complete escalates at once, tier by tier; if even the
        last tier cannot, people are told why and it waits without a deadline (True) for a
        person to cancel it or the plant's users to change. Waiting for a deadline that can only
        end in the same place would leave it silent for hours."""
        why = self.gate.unmet()
        while why:
            escalation = self.gate.escalate(await self.plant_now(), reason=f"cannot be approved as asked: {why}")
            if escalation is None:
                break
            self._publish_state()
            await self.notify(
                escalation.roles, request.subject,
                f"Approval of {request.subject} escalated at once from {escalation.from_tier} to "
                f"{escalation.to_tier}: {escalation.reason}.",
                kind=NotificationKind.ESCALATED,
            )
            why = self.gate.unmet()
        if not why:
            return False
        self.gate.state = ApprovalState.ESCALATED
        self.gate.deadline_at = None
        self.gate.reason = (
            f"cannot be approved by the declared users: {why}. Cancel it, or change the users or "
            "role limits in the plant file"
        )
        self._publish_state()
        await self.notify(
            self.gate.roles, request.subject, f"{request.subject} {self.gate.reason}.", kind=NotificationKind.ESCALATED
        )
        workflow.set_current_details(f"Cannot be approved: {why}")
        return True

    async def await_attention(self, subject: str, reason: str, roles: tuple[str, ...]) -> bool:
        """A partner refused (4xx): tell people, wait for one to say retry (True) or abandon."""
        self._attention = reason
        self._attention_answer = None
        self._attention_roles = roles
        self._publish_state()
        workflow.set_current_details(f"Needs a person: {reason}")
        await self.notify(roles, subject, f"{subject} needs a person: {reason}", kind=NotificationKind.ATTENTION)
        await workflow.wait_condition(lambda: self._attention_answer is not None)
        answer = self._attention_answer
        assert answer is not None
        self._attention = ""
        if not answer.retry:
            self.gate.reason = f"cancelled by {answer.user} after: {reason}. {answer.comment}"
        self._publish_state()
        return answer.retry


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def partner_retry_policy(retry: PartnerRetry) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=retry.initial_interval_s),
        backoff_coefficient=retry.backoff,
        maximum_interval=timedelta(seconds=retry.max_interval_s),
        maximum_attempts=retry.max_attempts,
        # Belt and braces: the activity boundary already marks these non-retryable.
        non_retryable_error_types=["RejectedByPartnerError", "PartnerContractError", "IntegrationError"],
    )


async def call_partner(
    gated: ApprovalGated,
    activity: str,
    arg: Any,
    result_type: type | None,
    *,
    retry: PartnerRetry,
    subject: str,
    roles: tuple[str, ...],
) -> tuple[bool, Any]:
    """Run a partner activity; when it finally fails, ask a person (retry or give up).

    Returns ``(True, result)`` or ``(False, None)`` when a person abandoned the call.
    """
    while True:
        try:
            result = await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                start_to_close_timeout=timedelta(seconds=retry.timeout_s),
                retry_policy=partner_retry_policy(retry),
            )
            return True, result
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                reason = cause.message  # the partner refused: its own words
            else:
                # Retryable failures that outlasted the retry policy (partner down, timing out).
                detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
                reason = f"{activity} gave up after {retry.max_attempts} attempts, last error: {detail}"
            if not await gated.await_attention(subject, reason, roles):
                return False, None


def is_this_run(external_ref: str) -> bool:
    """Whether a CMMS event's ``external_ref`` is this run's work order (or names only the
    workflow, as refs made before run-scoped refs did)."""
    info = workflow.info()
    return external_ref in (work_order_ref(info.workflow_id, info.run_id), info.workflow_id)


async def await_work_order_completion(
    gated: ApprovalGated,
    completion: Callable[[], WorkOrderCompletion | None],
    work_order_id: str,
    *,
    timeout_s: float,
    retry: PartnerRetry,
    subject: str,
    roles: tuple[str, ...],
) -> WorkOrderCompletion:
    """Wait for the CMMS's completion callback (``completion`` reads what the signal stored).

    Every ``timeout_s`` without it, the CMMS's own record is read: a completed work order whose
    callback went missing still completes; otherwise people are told it is still open.
    """
    while True:
        try:
            await plant_clock.wait_condition(
                gated.clock, lambda: completion() is not None, timedelta(seconds=timeout_s)
            )
            done = completion()
            assert done is not None
            return done
        except TimeoutError:
            pass
        ok, state = await call_partner(
            gated, "get_work_order_status", work_order_id, str, retry=retry, subject=subject, roles=roles
        )
        if ok and state == "completed" and completion() is None:
            return WorkOrderCompletion(
                external_ref=work_order_ref(workflow.info().workflow_id, workflow.info().run_id),
                work_order_id=work_order_id,
                notes="from the CMMS record (callback missing)",
            )
        await gated.notify(roles, subject, f"Work order {work_order_id} not completed yet (CMMS: {state}).")
