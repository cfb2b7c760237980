"""Approvals over Temporal, for the CLI and the web backend: list what waits for a person, vote.

Pending approvals are found through the ``ApprovalState`` search attribute and read through each
workflow's ``approval`` query; votes go in as the ``decide`` Update, whose validator is the
authority (role, limits, separation of duties, one vote per person). A refusal comes back as an
``ApprovalRefused`` with the validator's words.

Each vote is its own trace: a root span ``approval.vote`` (approver, role, outcome, workflow id),
LINKED to the span the workflow was started from (read from the start event's tracing header, so
a vote from the CLI in another process links as well as one from the web UI) and to the web
request it came in with. The workflow's ``HandleUpdate:decide`` span links back to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from agents.errors import InputError
from orchestrator.config import PlantConfig
from orchestrator.web.models import ActResult, ApprovalItem, Vote
from workflows.kinds import KINDS
from workflows.models import (
    WAITING_STATES,
    ApprovalPolicy,
    ApprovalState,
    ApprovalStatus,
    ApprovalTier,
    ApprovalVote,
    Approver,
    AttentionDecision,
    ReviewClosing,
    comment_too_long,
)

#: The header the Temporal TracingInterceptor carries the caller's trace context in.
_TRACE_HEADER = "_tracer-data"

log = logging.getLogger(__name__)
tracer = trace.get_tracer("autoops.approvals")
APPROVAL_WAIT = metrics.get_meter("autoops.approvals").create_histogram(
    "autoops.approval.wait",
    unit="s",
    description="time from an approval opening to the vote that settled it",
)


def policy_from_config(
    config: PlantConfig, *, tiers: tuple[ApprovalTier, ...] | None = None, auto_approve_limit: float = 0.0
) -> ApprovalPolicy:
    """The approval rules a workflow is started with: each approving role's limit from ``[roles]``.

    Without ``tiers`` the default ladder applies (lead / buyer, then plant manager above 5000).
    """
    return ApprovalPolicy(
        auto_approve_limit=auto_approve_limit,
        tiers=tiers or ApprovalPolicy().tiers,
        role_limits=role_limits(config),
        approvers=approvers(config),
        remind_before_s=config.approvals.remind_before_s,
        owners=config.owners_by_asset(),
    )


def role_limits(config: PlantConfig) -> dict[str, float]:
    """Each approving role's limit; a role that may not approve has none."""
    return {name: role.approval_limit for name, role in config.roles.items() if role.can_approve}


def approvers(config: PlantConfig) -> tuple[Approver, ...]:
    """The declared people who may approve anything, with their approving roles and limit."""
    return tuple(
        Approver(
            name=user.name,
            roles=tuple(r for r in user.roles if config.roles[r].can_approve),
            limit=config.approval_limit(user),
        )
        for user in config.users
        if any(config.roles[r].can_approve for r in user.roles)
    )


class ApprovalRefused(InputError):
    """The workflow refused a vote (wrong role, above a limit, own request, second vote, no comment)."""


@dataclass(frozen=True)
class Pending:
    workflow_id: str
    workflow_type: str
    status: ApprovalStatus


def _query() -> str:
    states = ", ".join(f'"{s.value}"' for s in WAITING_STATES)
    return f"ApprovalState IN ({states}) AND ExecutionStatus = 'Running'"


class TemporalApprovals:
    """The approval half of the web backend, and the CLI's engine."""

    def __init__(self, client: Client, *, clock: Callable[[], datetime] | None = None) -> None:
        self._client = client
        self._clock = clock or (lambda: datetime.now(UTC))

    async def pending(self) -> list[Pending]:
        found = []
        async for wf in self._client.list_workflows(_query()):
            status = await self.status(wf.id)
            if status is not None and status.state in WAITING_STATES:
                found.append(Pending(wf.id, wf.workflow_type, status))
        return found

    async def status(self, workflow_id: str, run_id: str | None = None) -> ApprovalStatus | None:
        """The approval of a workflow's run (the latest without ``run_id``); ``None`` if unknown
        or if the workflow has no approval gate."""
        try:
            return await self._client.get_workflow_handle(workflow_id, run_id=run_id).query(
                "approval", result_type=ApprovalStatus
            )
        except WorkflowQueryFailedError as exc:
            if "expected but not found" in str(exc):  # a kind of workflow without a gate
                return None
            raise
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None
            raise

    async def cast(self, workflow_id: str, vote: ApprovalVote) -> ApprovalStatus:
        """Send the vote; raise ``ApprovalRefused`` with the validator's reason when refused."""
        # Checked here too, not only by the workflow's validator: a rejected Update travels back
        # with its request, so a comment over Temporal's 2 MB payload limit cannot even be refused
        # by the worker; it fails the workflow task again and again until the Update times out.
        too_long = comment_too_long(vote.comment)
        if too_long:
            raise ApprovalRefused(f"{workflow_id}: refused: {too_long}")
        links = []
        started = await self.started_from(workflow_id)
        if started is not None:
            links.append(Link(started, {"link.reason": "workflow.start"}))
        request = trace.get_current_span().get_span_context()
        if request.is_valid:
            links.append(Link(request, {"link.reason": "request"}))
        attributes = {
            "workflow.id": workflow_id,
            "approval.approver": vote.user,
            "approval.role": vote.role,
            "approval.outcome": "approve" if vote.approve else "reject",
        }
        # A new root (empty context): the vote is its own trace, linked to the workflow's.
        with tracer.start_as_current_span(
            "approval.vote", context=Context(), links=links, attributes=attributes
        ) as span:
            status = await self._send(workflow_id, vote)
            span.set_attribute("approval.state", status.state.value)
            if status.context.decision_id:
                span.set_attribute("decision.id", status.context.decision_id)
            if status.state not in WAITING_STATES and status.opened_at is not None:
                waited = (self._clock() - status.opened_at).total_seconds()
                span.set_attribute("approval.wait_s", round(waited, 3))
                APPROVAL_WAIT.record(
                    max(0.0, waited),
                    {"approval.kind": status.context.kind or "", "approval.state": status.state.value},
                )
            return status

    async def started_from(self, workflow_id: str) -> SpanContext | None:
        """The span context the workflow was started in (its start event's tracing header)."""
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        from temporalio.converter import PayloadConverter

        try:
            async for event in self._client.get_workflow_handle(workflow_id).fetch_history_events():
                fields = event.workflow_execution_started_event_attributes.header.fields
                if _TRACE_HEADER not in fields:
                    return None
                carrier = PayloadConverter.default.from_payloads([fields[_TRACE_HEADER]])[0]
                context = TraceContextTextMapPropagator().extract(carrier)
                span_context = trace.get_current_span(context).get_span_context()
                return span_context if span_context.is_valid else None
        except Exception as exc:  # noqa: BLE001  a missing link must never block a vote
            log.info("no trace context for %s: %s", workflow_id, exc)
        return None

    async def _send(self, workflow_id: str, vote: ApprovalVote) -> ApprovalStatus:
        status: ApprovalStatus = await self._update(workflow_id, "decide", vote, ApprovalStatus)
        return status

    async def _update(self, workflow_id: str, name: str, arg: Any, result_type: type[Any]) -> Any:
        """Send an Update; a refusal by its validator (or no such workflow) is ``ApprovalRefused``."""
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            return await handle.execute_update(name, arg, result_type=result_type)
        except WorkflowUpdateFailedError as exc:
            reason = getattr(exc.cause, "message", None) or str(exc.cause or exc)
            raise ApprovalRefused(f"{workflow_id}: refused: {reason}") from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ApprovalRefused(
                    f"{workflow_id}: no such running workflow; see autoops approvals list"
                ) from None
            raise

    async def answer_attention(self, workflow_id: str, decision: AttentionDecision) -> str:
        """Answer a workflow that needs a person after a partner failure: retry now, or cancel.
        Returns what the workflow does ("retrying" / "abandoned"); raises ``ApprovalRefused``."""
        too_long = comment_too_long(decision.comment)
        if too_long:  # see cast(): over 2 MB not even the workflow's refusal could be sent
            raise ApprovalRefused(f"{workflow_id}: refused: {too_long}")
        with tracer.start_as_current_span(
            "approval.resolve",
            attributes={"workflow.id": workflow_id, "approval.approver": decision.user,
                        "approval.role": decision.role, "approval.outcome": "retry" if decision.retry else "cancel"},
        ):
            return str(await self._update(workflow_id, "resolve", decision, str))

    # ------------------------------------------------------------------ web backend protocol

    async def pending_approvals(self) -> list[ApprovalItem]:
        return [to_item(p.workflow_id, p.workflow_type, p.status) for p in await self.pending()]

    async def approval(self, approval_id: str) -> ApprovalItem | None:
        status = await self.status(approval_id)
        if status is None or status.state not in WAITING_STATES:
            return None
        kind = status.context.kind or approval_id.split(":", 1)[0]
        return to_item(approval_id, kind, status)

    async def vote(
        self, approval_id: str, *, user: str, role: str, limit: float, approve: bool, comment: str
    ) -> ActResult:
        try:
            status = await self.cast(
                approval_id, ApprovalVote(user=user, role=role, approve=approve, comment=comment, limit=limit)
            )
        except ApprovalRefused as exc:
            return ActResult(ok=False, message=str(exc), state="refused")
        done = status.state not in (ApprovalState.PENDING, ApprovalState.ESCALATED)
        approvals = sum(1 for v in status.votes if v.approve)
        message = status.reason if done else f"vote recorded: {approvals} of {status.min_approvers} approvals"
        return ActResult(ok=True, message=message, state=status.state.value)


    async def resolve(
        self, approval_id: str, *, user: str, role: str, retry: bool, comment: str
    ) -> ActResult:
        try:
            outcome = await self.answer_attention(
                approval_id, AttentionDecision(user=user, role=role, retry=retry, comment=comment)
            )
        except ApprovalRefused as exc:
            return ActResult(ok=False, message=str(exc), state="refused")
        message = "retrying now" if retry else "cancelled"
        return ActResult(ok=True, message=f"{approval_id}: {message} ({outcome})", state=outcome)


    async def close_review(self, approval_id: str, *, user: str, role: str, comment: str) -> ActResult:
        """Close a ``review`` item (the workflow's ``close`` Update, whose validator is the authority)."""
        too_long = comment_too_long(comment)
        if too_long:  # see cast(): over 2 MB not even the workflow's refusal could be sent
            return ActResult(ok=False, message=f"{approval_id}: refused: {too_long}", state="refused")
        with tracer.start_as_current_span(
            "approval.close",
            attributes={"workflow.id": approval_id, "approval.approver": user, "approval.role": role,
                        "approval.outcome": "close"},
        ):
            try:
                status = await self._update(
                    approval_id, "close", ReviewClosing(user=user, role=role, comment=comment), ApprovalStatus
                )
            except ApprovalRefused as exc:
                return ActResult(ok=False, message=str(exc), state="refused")
        return ActResult(ok=True, message=status.reason, state=status.state.value)


def to_item(workflow_id: str, workflow_type: str, status: ApprovalStatus) -> ApprovalItem:
    """The web inbox's view of one approval."""
    ctx = status.context
    return ApprovalItem(
        id=workflow_id,
        kind=ctx.kind or KINDS.label_of(workflow_id, default=workflow_type),
        title=status.subject,
        site=ctx.site,
        asset_id=ctx.asset_id,
        requested_by=status.requested_by,
        requested_at=status.opened_at,
        deadline=status.deadline,
        priority=ctx.priority,
        amount=status.amount,
        currency=status.currency,
        roles=status.roles,
        min_approvers=status.min_approvers,
        votes=tuple(Vote(user=v.user, role=v.role, approve=v.approve, comment=v.comment, time=v.at)
                    for v in status.votes),
        state=status.state.value,
        tier=status.tier,
        decision_id=ctx.decision_id,
        explanation=ctx.explanation if status.state != ApprovalState.ATTENTION else status.reason,
        evidence=ctx.evidence,
        window=ctx.window,
        creates=ctx.creates,
        reason=status.reason if status.state == ApprovalState.ESCALATED else "",
    )
