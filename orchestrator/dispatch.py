"""Act on decisions: start the workflow of each proposed action whose kind has one, record it in
the ledger, keep the ledger current, and tell open maintenance workflows how their asset is.

Which kinds start workflows, and how, is the registry's business (``workflows/kinds.py``): nothing
here names a kind except maintenance, whose workflow waits for its asset's health.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from opentelemetry import metrics, trace
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from agents.models import HealthReport
from agents.runtime.tracing import context_of
from orchestrator.ledger import WorkflowLedger, WorkflowRecord
from orchestrator.outcomes import record_result
from policies.models import Autonomy, Decision, DecisionOutcome
from policies.store import DecisionLog
from workflows.clock import WALL
from workflows.kinds import KINDS, MAINTENANCE
from workflows.models import ApprovalPolicy
from workflows.registry import ActionKinds, StartRequest

log = logging.getLogger(__name__)
tracer = trace.get_tracer("autoops.orchestrator")
meter = metrics.get_meter("autoops.orchestrator")
DECISIONS = meter.create_counter("autoops.decisions", description="decisions by policy and outcome")
WORKFLOWS = meter.create_counter("autoops.workflows.started", description="workflows started")


class Dispatcher:
    """The loop's hand-off from Decide to Act, over one ledger."""

    def __init__(
        self,
        *,
        client: Client,
        store: DecisionLog,
        ledger: WorkflowLedger,
        site: str,
        approval: ApprovalPolicy,
        task_queue: str,
        now: Callable[[], datetime],
        kinds: ActionKinds = KINDS,
    ) -> None:
        self.client = client
        self.store = store
        self.ledger = ledger
        self.site = site
        self.approval = approval
        self.task_queue = task_queue
        self.now = now
        self.clock = WALL  # the deployment's one clock, given to every workflow it starts
        self.kinds = kinds
        self.concurrency = 8  # workflow starts in flight at once (one tick's decisions)
        self._checks = 0
        self._forwarded: dict[str, bool] = {}  # asset -> last health told to its maintenance

    async def act(self, decisions: Sequence[Decision], reports: Mapping[str, HealthReport]) -> list[str]:
        """Trace each decision and start its workflow, if it has one; the ids started, in the
        decisions' order. Decisions of different problems start at the same time (a few at a
        time): one at a time, a tick with many decisions waited one server round trip each."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(decision: Decision) -> str | None:
            async with gate:
                DECISIONS.add(1, {"policy.id": decision.policy_id, "decision.outcome": decision.outcome.value})
                return await self._act(decision, reports)

        # One problem's decisions (the same dedup key) are acted on one after another, in order.
        groups: dict[str, list[int]] = {}
        for i, decision in enumerate(decisions):
            key = decision.proposed.dedup_key if decision.proposed is not None else ""
            groups.setdefault(key or f"#{i}", []).append(i)
        results: list[str | None] = [None] * len(decisions)

        async def in_order(indices: list[int]) -> None:
            for i in indices:
                results[i] = await one(decisions[i])

        await asyncio.gather(*(in_order(g) for g in groups.values()))
        return [w for w in results if w]

    async def _act(self, decision: Decision, reports: Mapping[str, HealthReport]) -> str | None:
        proposed = decision.proposed
        report = next((reports[r] for r in decision.inputs if r in reports), None)
        # The trace continues from the assessment span the actor made for the report the policy
        # read (agents/runtime/tracing.py); an untraced report starts a trace of its own here.
        with tracer.start_as_current_span(
            "policy.evaluate",
            context=context_of(report),
            attributes={
                **_report_attributes(decision, report),
                "policy.id": decision.policy_id,
                "policy.version": decision.policy_version,
                "decision.id": decision.decision_id,
                "decision.outcome": decision.outcome.value,
            },
        ) as span:
            trace_id = f"{span.get_span_context().trace_id:032x}"
            workflow_id = None
            if (
                decision.outcome is DecisionOutcome.PROPOSED
                and proposed is not None
                and proposed.autonomy is not Autonomy.SUGGEST
                and proposed.action.kind in self.kinds
            ):
                workflow_id = await self._start(decision)
                if workflow_id:
                    span.set_attribute("workflow.id", workflow_id)
            self.store.link(decision.decision_id, now=self.now(), trace_id=trace_id, workflow_id=workflow_id)
            return workflow_id

    async def _start(self, decision: Decision) -> str | None:
        proposed = decision.proposed
        assert proposed is not None
        request = StartRequest(
            site=self.site,
            decision_id=decision.decision_id,
            approval=self.approval,
            requested_by=f"policy:{decision.policy_id}",
            clock=self.clock,
        )
        kind = self.kinds.of(proposed.action.kind)
        assert kind is not None
        try:
            handle = await kind.start(self.client, proposed, request, task_queue=self.task_queue)
        except Exception as exc:  # noqa: BLE001  one failed start must not stop the loop
            log.error("decision %s: could not start its workflow: %s", decision.decision_id, exc)
            return None
        WORKFLOWS.add(1, {"workflow.kind": kind.kind})
        self.ledger.opened(
            WorkflowRecord(
                workflow_id=handle.id,
                kind=kind.kind,
                dedup_key=proposed.dedup_key,
                decision_id=decision.decision_id,
                asset_id=kind.asset_of(proposed) or decision.asset_id,
                instrument_check=bool(getattr(proposed.action, "instrument_check", False)),
                started_at=self.now(),
            )
        )
        log.info("decision %s (%s) started %s", decision.decision_id, decision.policy_id, handle.id)
        return handle.id

    async def refresh(self, every: int = 5) -> None:
        """Forget workflows that have closed, so their problems may open new ones later.

        Checked every few ticks, not every tick: a closed workflow only matters when the same
        problem comes back, and each check is one call per open workflow."""
        self._checks += 1
        if self._checks % every:
            return

        async def describe(workflow_id: str) -> Any:
            try:
                return await self.client.get_workflow_handle(workflow_id).describe()
            except RPCError as exc:
                log.warning("cannot describe %s: %s", workflow_id, exc)
                return None

        # Asked a few at a time (hundreds open at 10,000 assets: one round trip each, in turn,
        # took most of a tick); what closed is recorded in the ledger's order, as before.
        ids = list(self.ledger)
        descriptions = await _a_few_at_a_time([describe(w) for w in ids], self.concurrency)
        for workflow_id, description in zip(ids, descriptions, strict=True):
            if description is None or isinstance(description, BaseException):
                continue
            if description.status is not WorkflowExecutionStatus.RUNNING:
                status = description.status.name.lower() if description.status else "unknown"
                record = self.ledger.close(workflow_id, status=status, at=self.now())
                decision_id = record.decision_id if record is not None else None
                await record_result(self.client, self.store, description, decision_id, now=self.now())
        _raise_first(descriptions)  # what closed is recorded; then the unexpected error

    async def forward_health(self, reports: Sequence[HealthReport]) -> None:
        """Tell each open maintenance workflow when its asset turns healthy or unhealthy."""
        from orchestrator.signals import forward_health

        under_maintenance = self.ledger.assets_with_open(MAINTENANCE.kind)
        latest = {r.asset_id: r for r in reports if r.asset_id in under_maintenance}

        async def tell(report: HealthReport, healthy: bool) -> None:
            try:
                await forward_health(self.client, self.site, report)
                self._forwarded[report.asset_id] = healthy
            except RPCError as exc:
                log.warning("cannot forward health of %s: %s", report.asset_id, exc)

        calls = []
        for report in latest.values():
            healthy = report.status.value == "green" and not report.sensor_faults
            # Only changes matter to the workflow: one signal per change, not one per tick.
            if self._forwarded.get(report.asset_id) != healthy:
                calls.append(tell(report, healthy))
        # One signal per asset, to different workflows: a few at a time, not one round trip each.
        _raise_first(await _a_few_at_a_time(calls, self.concurrency))


async def _a_few_at_a_time(calls: Sequence[Awaitable[Any]], limit: int) -> list[Any]:
    """Await ``calls`` with at most ``limit`` in flight; their results in order, an error in
    the place of a call that raised (every call ends: none is left running unawaited)."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls), return_exceptions=True)


def _raise_first(results: Sequence[Any]) -> None:
    """Raise the first error among ``_a_few_at_a_time``'s results, if any."""
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise failed


def _report_attributes(decision: Decision, report: HealthReport | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {"asset.id": decision.asset_id or ""}
    if report is not None:
        attrs.update(
            {
                "report.id": report.report_id,
                "asset.status": report.status.value,
                "asset.health_score": report.health_score,
                "report.time": report.time.isoformat(),
            }
        )
        attrs.update({f"indicator.{i.name}": i.value for i in report.indicators[:6] if i.value is not None})
    return attrs
