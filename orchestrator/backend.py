"""The web UI's backend over the running system: Temporal (approvals, workflow history), the
orchestrator's report history (board, evidence plots) and the decision log."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agents.errors import ServiceUnavailableError
from agents.models import HealthReport
from orchestrator.approvals import TemporalApprovals
from orchestrator.runtime import Orchestrator
from orchestrator.web.models import (
    ActResult,
    ApprovalItem,
    AssetTile,
    AssetView,
    DecisionRow,
    PlannedStop,
    ResultRow,
    RunRef,
    Series,
    TimelineEntry,
    WorkflowView,
)
from workflows.integrations.models import WindowKind
from workflows.kinds import KINDS

log = logging.getLogger(__name__)

_SEVERITY = {"red": 0, "amber": 1, "unknown": 2, "green": 3}


def _reading(value: float) -> str:
    """A reading as a person reads it off a tile: 1,237 not 1.24e+03; three significant digits below."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def series_for(reports: list[HealthReport]) -> Series | None:
    """The asset's main indicator over time (the first one with thresholds), with the latest RUL."""
    if not reports:
        return None
    last = reports[-1]
    main = next((i for i in last.indicators if i.amber_at is not None or i.red_at is not None), None)
    if main is None:
        return None
    times, values = [], []
    for report in reports:
        indicator = report.indicator(main.name)
        if indicator is not None and indicator.value is not None:
            times.append(report.time)
            values.append(float(indicator.value))
    rul = next((r.rul for r in reversed(reports) if r.rul is not None), None)
    return Series(
        name=main.name,
        unit=main.unit,
        times=tuple(times),
        values=tuple(values),
        amber_at=main.amber_at,
        red_at=main.red_at,
        rul_h=rul.value if rul and rul.unit == "h" else None,
        rul_lower_h=rul.lower if rul and rul.unit == "h" else None,
        rul_upper_h=rul.upper if rul and rul.unit == "h" else None,
    )


P = ParamSpec("P")
R = TypeVar("R")

# Temporal answers these while it is down, restarting or overloaded: nothing is wrong with the request.
_DOWN = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}


def _temporal_down(exc: BaseException) -> bool:
    if isinstance(exc, RPCError):
        return exc.status in _DOWN
    # A lazy client that never reached the server raises a plain RuntimeError on first use.
    return isinstance(exc, RuntimeError) and "client connect" in str(exc).lower()


def temporal_boundary(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Translate "Temporal cannot be reached" into ``ServiceUnavailableError`` (the web UI's 503)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            if not _temporal_down(exc):
                raise
            log.warning("Temporal unreachable in %s: %s", fn.__name__, exc)
            raise ServiceUnavailableError(
                "the workflow service (Temporal) cannot be reached right now; approvals and "
                "workflow pages are back once it is up again: retry in a moment"
            ) from exc

    return wrapper


class PlantBackend:
    """Implements ``orchestrator.web.backend.WebBackend``."""

    def __init__(self, client: Client, orchestrator: Orchestrator, temporal_ui_url: str) -> None:
        self.client = client
        self.orchestrator = orchestrator
        self.approvals = TemporalApprovals(client)
        # "" with an external cluster whose UI the plant file does not name: no link rather
        # than one to an embedded server this process never started.
        self.temporal_ui_url = temporal_ui_url

    def _enrich(self, item: ApprovalItem) -> ApprovalItem:
        update: dict[str, Any] = {}
        decided_at: datetime | None = None
        if item.decision_id:
            try:
                decision = self.orchestrator.store.get(item.decision_id)
                decided_at = decision.time
                update.update(policy_id=decision.policy_id, policy_version=decision.policy_version)
                if decision.trace_id:
                    update["trace_id"] = decision.trace_id
                if not item.priority and decision.proposed is not None:
                    priority = getattr(decision.proposed.action, "priority", None)
                    update["priority"] = priority.value if priority is not None else ""
            except Exception:  # noqa: BLE001  an approval without a stored decision still shows
                pass
        if item.asset_id:
            # The evidence the decision saw: history up to its time, and that moment's RUL, so the
            # plot and the explanation tell one RUL (not the decision's beside today's).
            reports = self.orchestrator.history.of(item.asset_id)
            if decided_at is not None:
                reports = [r for r in reports if r.time <= decided_at] or reports
            update["series"] = series_for(reports)
        return item.model_copy(update=update)

    @temporal_boundary
    async def pending_approvals(self) -> list[ApprovalItem]:
        return [self._enrich(i) for i in await self.approvals.pending_approvals()]

    @temporal_boundary
    async def approval(self, approval_id: str) -> ApprovalItem | None:
        item = await self.approvals.approval(approval_id)
        return self._enrich(item) if item else None

    @temporal_boundary
    async def vote(
        self, approval_id: str, *, user: str, role: str, limit: float, approve: bool, comment: str
    ) -> ActResult:
        return await self.approvals.vote(
            approval_id, user=user, role=role, limit=limit, approve=approve, comment=comment
        )

    @temporal_boundary
    async def resolve(
        self, approval_id: str, *, user: str, role: str, retry: bool, comment: str
    ) -> ActResult:
        return await self.approvals.resolve(approval_id, user=user, role=role, retry=retry, comment=comment)

    @temporal_boundary
    async def close_review(self, approval_id: str, *, user: str, role: str, comment: str) -> ActResult:
        return await self.approvals.close_review(approval_id, user=user, role=role, comment=comment)

    @temporal_boundary
    async def board(self) -> list[AssetTile]:
        workflows = self.orchestrator.workflows
        tiles = []
        names = {m["id"]: m.get("name", "") for m in self.orchestrator.config.machines}
        lines = {m["id"]: m.get("line") or "" for m in self.orchestrator.config.machines}
        latest = self.orchestrator.history.latest()
        for asset_id in sorted(latest):
            report = latest[asset_id]
            main = next((i for i in report.indicators if i.value is not None), None)
            tiles.append(
                AssetTile(
                    asset_id=asset_id,
                    name=names.get(asset_id, ""),
                    kind=report.asset_kind.value,
                    line=lines.get(asset_id, ""),
                    status=report.status.value,
                    main_indicator=main.name if main else "",
                    main_value=f"{_reading(main.value)} {main.unit}".strip() if main and main.value is not None else "",
                    summary=report.summary,
                    sensor_faults=tuple(f"{f.sensor} {f.kind.value}" for f in report.sensor_faults),
                    last_report_at=report.time,
                    open_workflows=workflows.open_on(asset_id),
                )
            )
        # Problems first: a tablet on the shop floor shows red and amber assets above the fold.
        tiles.sort(key=lambda t: (_SEVERITY.get(t.status, 3), t.kind != "machine", t.asset_id))
        return tiles

    async def asset(self, asset_id: str, *, days: float = 7.0, indicators: int = 3) -> AssetView | None:
        """An asset's page: its tile, its main indicators over ``days`` from the history store
        (the recent in-memory reports without one), its next planned stops and open workflows."""
        tile = next((t for t in await self.board() if t.asset_id == asset_id), None)
        if tile is None:
            return None
        reports = self.orchestrator.history.of(asset_id)
        end = reports[-1].time if reports else tile.last_report_at
        history: list[Series] = []
        recorder = getattr(self.orchestrator, "recorder", None)
        if recorder is not None and end is not None:
            history = _stored_series(recorder.store, asset_id, end - timedelta(days=days), end, indicators)
        if not history and reports:
            main = series_for(reports)
            history = [main] if main is not None else []
        stops: list[PlannedStop] = []
        error = ""
        mes = getattr(self.orchestrator, "mes", None)
        if mes is not None and end is not None:
            try:
                schedule = await mes.get_schedule(end, end + timedelta(days=14), asset_id=asset_id)
                stops = [
                    PlannedStop(start=w.start, end=w.end, label=w.label or w.kind.value)
                    for w in schedule.windows
                    if w.asset_id in (None, asset_id) and w.kind in (WindowKind.BREAK, WindowKind.MAINTENANCE)
                ][:5]
            except Exception as exc:  # noqa: BLE001  the page still shows health without the MES
                error = f"the MES did not answer: {type(exc).__name__}"
        return AssetView(
            tile=tile, days=days, history=tuple(history), next_stops=tuple(stops), schedule_error=error
        )

    @temporal_boundary
    async def workflow(self, workflow_id: str, run_id: str | None = None) -> WorkflowView | None:
        """One run of a workflow (the latest without ``run_id``): its own decision, amount,
        votes, outcome and timeline, and the list of every run of the id."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id or None)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None
            raise
        this_run = self.client.get_workflow_handle(workflow_id, run_id=description.run_id)
        history, started_with = await self._history(this_run)
        # The run's own decision: the one in its start input (a later run of the id has another).
        decision_id = str(started_with.get("decision_id") or "")
        timeline: list[TimelineEntry] = []
        trace_id = None
        result = ""
        if decision_id:
            try:
                decision = self.orchestrator.store.get(decision_id)
                trace_id = decision.trace_id
                timeline.append(
                    TimelineEntry(
                        time=decision.time,
                        kind="decision",
                        text=f"{decision.policy_id} v{decision.policy_version}: {decision.explanation}",
                    )
                )
                result = next(
                    (r.summary() for r in decision.results if r.run_id == description.run_id), ""
                )
            except Exception:  # noqa: BLE001  a decision from another state directory
                pass
        timeline += history
        status = await self.approvals.status(workflow_id, run_id=description.run_id)
        if status is not None:
            for vote in status.votes:
                timeline.append(
                    TimelineEntry(
                        time=vote.at,
                        kind="approval",
                        text=("closed" if status.context.kind == "review" else "approved" if vote.approve else "rejected")
                        + (f": “{vote.comment}”" if vote.comment else ""),
                        actor=f"{vote.user} ({vote.role})",
                    )
                )
        # The decision comes first: it started the workflow, and its time is the plant's (simulated
        # in the demo) clock, which need not agree with the wall clock of Temporal's events.
        timeline.sort(
            key=lambda e: (
                e.kind != "decision",
                e.time or datetime.min.replace(tzinfo=description.start_time.tzinfo),
            )
        )
        return WorkflowView(
            id=workflow_id,
            run_id=description.run_id,
            kind=KINDS.label_of(workflow_id, default=description.workflow_type),
            status=description.status.name.lower() if description.status else "",
            decision_id=decision_id,
            trace_id=trace_id,
            temporal_url=f"{self.temporal_ui_url}/namespaces/{self.client.namespace}/workflows/"
            f"{quote(workflow_id, safe='')}/{quote(description.run_id, safe='')}"
            if self.temporal_ui_url
            else "",
            amount=status.amount if status is not None and status.subject else None,
            currency=status.currency if status is not None else "",
            approval=status.state.value if status is not None else "",
            result=result,
            window=status.context.window if status is not None else "",
            window_moved=status.context.window_moved if status is not None else "",
            runs=tuple(await self._runs(workflow_id)),
            timeline=tuple(timeline),
        )

    def _plant_at(self, wall: datetime | None) -> datetime | None:
        """A wall-clock time (Temporal's) in the deployment's one clock."""
        clock = getattr(self.orchestrator, "clock", None)
        return clock.plant_at(wall) if clock is not None else wall

    @property
    def clock(self) -> Any:
        """The deployment's one clock (``orchestrator.clock.DeploymentClock``): pages name it."""
        return getattr(self.orchestrator, "clock", None)

    async def _runs(self, workflow_id: str) -> list[RunRef]:
        quoted = workflow_id.replace("\\", "\\\\").replace("'", "\\'")
        runs = [
            RunRef(
                run_id=wf.run_id,
                started=self._plant_at(wf.start_time),
                status=wf.status.name.lower() if wf.status else "",
            )
            async for wf in self.client.list_workflows(f"WorkflowId = '{quoted}'")
        ]
        runs.sort(key=lambda r: r.started or datetime.min.replace(tzinfo=UTC), reverse=True)
        return runs

    async def _history(self, handle: Any) -> tuple[list[TimelineEntry], dict[str, Any]]:
        """The run's timeline from its Temporal history, and the input it was started with."""
        entries: list[TimelineEntry] = []
        started_with: dict[str, Any] = {}
        try:
            history = await handle.fetch_history()
        except RPCError as exc:
            if exc.status in _DOWN:
                raise
            return entries, started_with
        scheduled: dict[int, str] = {}
        for event in history.events:
            # Temporal stamps its events in wall time: shown in the plant's one clock.
            when = self._plant_at(event.event_time.ToDatetime().replace(tzinfo=UTC))
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[event.event_id] = name
                entries.append(TimelineEntry(time=when, kind="request", text=f"{name} scheduled"))
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                name = scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id, "activity")
                entries.append(TimelineEntry(time=when, kind="response", text=f"{name} completed"))
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
                attrs = event.activity_task_failed_event_attributes
                name = scheduled.get(attrs.scheduled_event_id, "activity")
                entries.append(
                    TimelineEntry(time=when, kind="response", text=f"{name} failed: {attrs.failure.message}")
                )
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                name = event.workflow_execution_signaled_event_attributes.signal_name
                entries.append(TimelineEntry(time=when, kind="callback", text=f"signal {name}"))
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                entries.append(TimelineEntry(time=when, kind="state", text="completed"))
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                entries.append(TimelineEntry(time=when, kind="state", text="started"))
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                started_with = _json_object(payloads[0].data) if payloads else {}
        return entries, started_with

    @temporal_boundary
    async def decisions(self, query: str = "", limit: int = 200) -> list[DecisionRow]:
        rows = []
        needle = query.lower().strip()
        for decision in reversed(self.orchestrator.store.list()):
            text = " ".join(
                [
                    decision.policy_id,
                    decision.asset_id or "",
                    decision.outcome.value,
                    decision.explanation,
                    decision.workflow_id or "",
                    *(r.summary() for r in decision.results),
                ]
            ).lower()
            if needle and needle not in text:
                continue
            rows.append(
                DecisionRow(
                    decision_id=decision.decision_id,
                    time=decision.time,
                    policy_id=decision.policy_id,
                    policy_version=decision.policy_version,
                    asset_id=decision.asset_id,
                    outcome=decision.outcome.value,
                    explanation=decision.explanation,
                    workflow_id=decision.workflow_id,
                    trace_id=decision.trace_id,
                    results=tuple(
                        ResultRow(run_id=r.run_id, ended=r.ended, summary=r.summary()) for r in decision.results
                    ),
                )
            )
            if len(rows) >= limit:
                break
        return rows


def _json_object(data: bytes) -> dict[str, Any]:
    """A workflow input payload (JSON by Temporal's default converter) as a dict; {} otherwise."""
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _stored_series(store: Any, asset_id: str, start: datetime, end: datetime, limit: int) -> list[Series]:
    """The asset's indicators between ``start`` and ``end`` from the history store, most
    populated first (at most ``limit``)."""
    from orchestrator.history.schema import indicators

    rows = store.rows(
        indicators,
        indicators.c.asset_id == asset_id,
        indicators.c.at >= start,
        indicators.c.at <= end,
        order_by=(indicators.c.at,),
    )
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("value") is not None:
            by_name.setdefault(row["name"], []).append(row)
    ranked = sorted(by_name.items(), key=lambda item: -len(item[1]))[:limit]
    return [
        Series(
            name=name,
            unit=points[0].get("unit") or "",
            times=tuple(p["at"] if p["at"].tzinfo else p["at"].replace(tzinfo=UTC) for p in points),
            values=tuple(float(p["value"]) for p in points),
        )
        for name, points in ranked
        if len(points) >= 2
    ]
