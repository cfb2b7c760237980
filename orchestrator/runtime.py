"""The loop: readings -> agents on Ray -> reports -> policies -> decisions -> workflows.

``Orchestrator`` owns one tick of the plant (``step``) and what it needs to resume after a stop:
the simulation's position and journal, the policy engine's state and the workflows it started are
written to the state directory after every tick (``progress.json``, atomically), the agents'
state lives in their own checkpoints, the workflows in Temporal. A restarted orchestrator picks up
where the last one stopped and a decision already acted on never starts a second workflow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from agents.base import Reading
from agents.errors import AutoopsError
from agents.models import AssetKind, HealthReport
from agents.simulator.plant import PlantSim, SimulationSpec
from agents.sources.hub import SourceHub
from orchestrator.assets import asset_specs, catalog, inventory_items
from orchestrator.config import PlantConfig
from orchestrator.outcomes import record_result
from orchestrator.progress import History, Progress
from policies.base import MachineInfo, PlannedWindow, PolicyContext
from policies.engine import EngineConfig, PolicyEngine
from policies.models import Autonomy, Decision, DecisionOutcome
from policies.store import DecisionStore
from workflows.models import HealthConfirmation

log = logging.getLogger(__name__)
tracer = trace.get_tracer("autoops.orchestrator")
meter = metrics.get_meter("autoops.orchestrator")
REPORTS = meter.create_counter("autoops.reports", description="health reports received")
DECISIONS = meter.create_counter("autoops.decisions", description="decisions by policy and outcome")
WORKFLOWS = meter.create_counter("autoops.workflows.started", description="workflows started")

#: Actions that start a workflow; the others are recorded (and notified) only.
WORKFLOW_KINDS = ("order_parts", "schedule_maintenance", "reroute_work", "create_work_order")


@dataclass
class StepResult:
    readings: int
    reports: list[HealthReport]
    decisions: list[Decision]
    started: list[str]  # workflow ids



class Orchestrator:
    """One site's loop. Build with ``create``; call ``step`` per tick; ``close`` at the end."""

    def __init__(
        self,
        config: PlantConfig,
        *,
        client: Client,
        fleet: Any,
        engine: PolicyEngine,
        store: DecisionStore,
        progress: Progress,
        state_dir: Path,
        sim: PlantSim | None,
        mes: Any = None,
        task_queue: str | None = None,
        hub: SourceHub | None = None,
        feed: Any = None,
    ) -> None:
        self.config = config
        # The demo's twin publishes through OPC UA / MQTT / Modbus (agents.simulator.feed): each
        # tick it writes the simulation's readings there, and they come back through the hub.
        self.feed = feed
        self.hub = hub  # live sources; their readings wait on disk until the agents have them
        self.client = client
        self.fleet = fleet
        self.engine = engine
        self.store = store
        self.progress = progress
        self.state_dir = state_dir
        self.sim = sim
        self.mes = mes
        self.task_queue = task_queue or config.temporal.task_queue
        self.history = History()
        self.catalog = catalog(config)
        self._windows: tuple[PlannedWindow, ...] = ()
        self._windows_until: datetime | None = None
        self._queued: dict[str, int] = {}
        self._forwarded: dict[str, bool] = {}  # asset -> last health told to its maintenance
        self._expected = {spec.asset_id: spec.kind for spec in asset_specs(config)}
        self._steps = 0
        from orchestrator.approvals import policy_from_config
        from workflows.models import ApprovalTier

        self.approval_policy = policy_from_config(
            config,
            auto_approve_limit=config.approvals.auto_approve_limit,
            tiers=tuple(ApprovalTier.model_validate(t) for t in config.approvals.tiers) or None,
        )

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    async def create(
        cls,
        config: PlantConfig,
        *,
        client: Client,
        state_dir: Path,
        mes: Any = None,
        start: datetime | None = None,
        fleet_options: Any = None,
        feed: Any = None,
    ) -> Orchestrator:
        """Resume from the state directory (or start fresh) and bring up the agent fleet."""
        from agents.runtime.adapter import AgentFleet
        from policies.loader import load_all

        state_dir = state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        default_start = (start or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
        progress = Progress.load(state_dir / "progress.json", default_start)
        sim = None
        if config.simulation:
            spec = SimulationSpec.model_validate(config.simulation)
            sim = PlantSim(spec, inventory_items(config), start=progress.sim_start)
            if progress.ticks:
                log.info("resuming the simulation at tick %d", progress.ticks)
                sim.replay(progress.ticks, progress.journal)
        fleet = await asyncio.to_thread(
            AgentFleet.start,
            asset_specs(config),
            shard_size=config.ray.shard_size,
            namespace=config.ray.namespace,
            checkpoint_dir=state_dir / "checkpoints",
            options=fleet_options,
        )
        policies = [pf.loaded for pf in load_all(config.policies.extra_dirs)]
        engine = PolicyEngine(
            policies,
            EngineConfig.model_validate(
                {
                    "parameters": config.policies.parameters,
                    "budget": config.policies.budget,
                    "autonomy": config.policies.autonomy,
                }
            ),
        )
        if progress.engine:
            engine.restore(progress.engine)
        store = DecisionStore(state=state_dir)
        hub = None
        if config.source_specs():
            from agents.sources.buffer import ReadingBuffer

            buffer = ReadingBuffer(state_dir / "sources.sqlite")
            if feed is not None and sim is not None:
                # The feed flushes once a tick's readings all arrived; Modbus polls are stamped
                # with the time of the tick published (the simulation's, not the wall clock's).
                hub = SourceHub(config.source_specs(), buffer, flush_every_s=None, clock=feed.clock)
                feed.attach(hub, sim.now)
            else:
                feed = None
                hub = SourceHub(config.source_specs(), buffer)
        if sim is None:
            for asset in config.unsourced_assets():
                log.warning(
                    "asset %r has no source and there is no simulation: it will not report; "
                    "map its sensors to a [[sources]] tag in the plant file",
                    asset,
                )
        return cls(
            config,
            client=client,
            fleet=fleet,
            engine=engine,
            store=store,
            progress=progress,
            state_dir=state_dir,
            sim=sim,
            mes=mes,
            hub=hub,
            feed=feed,
        )

    def close(self) -> None:
        self.save()
        self.store.close()

    def save(self) -> None:
        if self.sim is not None:
            self.progress.ticks = self.sim.ticks
            self.progress.journal = list(self.sim.journal)
        self.progress.engine = self.engine.snapshot()
        self.progress.save(self.state_dir / "progress.json")

    # ---- the world outside the loop -------------------------------------------------------
    @property
    def now(self) -> datetime:
        if self.sim is not None:
            return self.sim.now
        return datetime.now(UTC)

    async def _planned_windows(self, now: datetime) -> tuple[PlannedWindow, ...]:
        """Planned stops from the MES, fetched a week ahead and refreshed once a day."""
        if self.mes is None:
            return ()
        if self._windows_until is None or now + timedelta(days=6) > self._windows_until:
            from workflows.integrations.models import WindowKind

            until = now + timedelta(days=7)
            try:
                windows = (await self.mes.get_schedule(now, until)).windows
            except Exception as exc:  # noqa: BLE001  the MES down must not stop the loop
                log.warning("MES schedule unavailable (%s); keeping the last one", exc)
                return self._windows
            self._windows = tuple(
                PlannedWindow(start=w.start, end=w.end, asset_id=w.asset_id, label=w.label)
                for w in windows
                if w.kind in (WindowKind.BREAK, WindowKind.MAINTENANCE)
            )
            self._windows_until = until
        return tuple(w for w in self._windows if w.end > now)

    async def _queued_jobs(self, asset_id: str) -> int:
        if self.mes is None:
            return 0
        if asset_id not in self._queued:
            try:
                self._queued[asset_id] = len(await self.mes.list_queued_jobs(asset_id))
            except Exception as exc:  # noqa: BLE001  an unknown machine counts as no queue
                log.warning("MES queue of %s unavailable (%s); counted as empty", asset_id, exc)
                self._queued[asset_id] = 0
        return self._queued[asset_id]

    async def context(self, now: datetime) -> PolicyContext:
        machines: dict[str, MachineInfo] = {}
        for table in self.config.machines:
            caps = tuple(table.get("capabilities", ()))
            alternatives = tuple(
                other["id"]
                for other in self.config.machines
                if other["id"] != table["id"] and set(caps) & set(other.get("capabilities", ()))
            )
            machines[table["id"]] = MachineInfo(
                asset_id=table["id"],
                bottleneck=bool(table.get("bottleneck", False)),
                queued_jobs=await self._queued_jobs(table["id"]),
                capabilities=caps,
                alternatives=alternatives,
                line=table.get("line") or "",
            )
        stock: dict[str, float] = {}
        for asset, report in self.history.latest().items():
            if report.asset_kind is AssetKind.INVENTORY:
                on_hand = report.indicator("stock")
                if on_hand is not None and on_hand.value is not None:
                    stock[asset] = on_hand.value
        return PolicyContext(
            now=now,
            site=self.config.site,
            planned_windows=await self._planned_windows(now),
            stock=stock,
            catalog=self.catalog,
            machines=machines,
            open_keys=frozenset(w["dedup_key"] for w in self.progress.workflows.values()),
            expected_assets=self._expected,
        )

    # ---- one tick ----------------------------------------------------------------------------
    async def step(self, readings: Sequence[Reading] | None = None) -> StepResult:
        """Sense -> decide -> act for one tick (readings from the simulation unless given)."""
        delivered: int | None = None
        if readings is None:
            if self.feed is not None and self.sim is not None and self.hub is not None:
                # The twin's tick goes out through the protocols and comes back through the
                # sources: taken from the store-and-forward buffer like any plant's readings.
                await self.feed.publish(self.sim.tick(), self.sim.now)
                delivered, taken = self.hub.take()
                readings = self.feed.complete(taken)
            elif self.sim is not None:
                readings = self.sim.tick()
            elif self.hub is not None:
                # Oldest first, original timestamps; acknowledged only once the agents have them.
                delivered, readings = self.hub.take()
            else:
                readings = []
        reports = await asyncio.to_thread(self.fleet.ingest, list(readings)) if readings else []
        if self.hub is not None and delivered is not None:
            self.hub.done(delivered)
        REPORTS.add(len(reports))
        self.history.add(reports)
        await self._refresh_workflows()
        await self._forward_health(reports)
        now = self.now
        ctx = await self.context(now)
        decisions = self.engine.process(reports, ctx)
        self.store.append(decisions)
        # A decision cites report ids: this tick's, or an asset's latest from an earlier tick.
        by_id = {r.report_id: r for r in (*self.history.latest().values(), *reports)}
        started: list[str] = []
        for decision in decisions:
            DECISIONS.add(1, {"policy.id": decision.policy_id, "decision.outcome": decision.outcome.value})
            workflow_id = await self._act(decision, by_id)
            if workflow_id:
                started.append(workflow_id)
        self.save()
        return StepResult(len(readings), list(reports), decisions, started)

    async def _act(self, decision: Decision, reports: dict[str, HealthReport]) -> str | None:
        """Record a decision's trace and start its workflow, if it has one."""
        proposed = decision.proposed
        report = next((reports[r] for r in decision.inputs if r in reports), None)
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
            attrs.update(
                {
                    f"indicator.{i.name}": i.value
                    for i in report.indicators[:6]
                    if i.value is not None
                }
            )
        with tracer.start_as_current_span("agent.assessment", attributes=attrs):
            with tracer.start_as_current_span(
                "policy.evaluate",
                attributes={
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
                    and proposed.action.kind in WORKFLOW_KINDS
                ):
                    workflow_id = await self._start(decision)
                    if workflow_id:
                        span.set_attribute("workflow.id", workflow_id)
                self.store.link(
                    decision.decision_id, now=self.now, trace_id=trace_id, workflow_id=workflow_id
                )
                return workflow_id

    async def _start(self, decision: Decision) -> str | None:
        from workflows.starters import start_for_proposal

        proposed = decision.proposed
        assert proposed is not None
        try:
            handle = await start_for_proposal(
                self.client,
                proposed,
                site=self.config.site,
                decision_id=decision.decision_id,
                approval=self.approval_policy,
                requested_by=f"policy:{decision.policy_id}",
                task_queue=self.task_queue,
            )
        except Exception as exc:  # noqa: BLE001  one failed start must not stop the loop
            log.error("decision %s: could not start its workflow: %s", decision.decision_id, exc)
            return None
        WORKFLOWS.add(1, {"workflow.kind": proposed.action.kind})
        self.progress.workflows.setdefault(
            handle.id,
            {
                "dedup_key": proposed.dedup_key,
                "decision_id": decision.decision_id,
                "kind": proposed.action.kind,
                "asset_id": proposed.asset_id or decision.asset_id,
                "instrument_check": bool(getattr(proposed.action, "instrument_check", False)),
                "started_at": self.now.isoformat(),
            },
        )
        log.info("decision %s (%s) started %s", decision.decision_id, decision.policy_id, handle.id)
        return handle.id

    async def settle(self) -> None:
        """Record every workflow that has closed now (not at the next periodic check)."""
        await self._refresh_workflows(every=1)

    async def _refresh_workflows(self, every: int = 5) -> None:
        """Forget workflows that have closed, so their problems may open new ones later.

        Checked every few ticks, not every tick: a closed workflow only matters when the same
        problem comes back, and each check is one call per open workflow."""
        self._steps += 1
        if self._steps % every:
            return
        for workflow_id in list(self.progress.workflows):
            try:
                description = await self.client.get_workflow_handle(workflow_id).describe()
            except RPCError as exc:
                log.warning("cannot describe %s: %s", workflow_id, exc)
                continue
            if description.status is not WorkflowExecutionStatus.RUNNING:
                entry = self.progress.workflows.pop(workflow_id)
                entry["status"] = description.status.name.lower() if description.status else "unknown"
                entry["closed_at"] = self.now.isoformat()
                entry["workflow_id"] = workflow_id
                # A business key may be reused by a later problem: keep every run's record.
                key, n = workflow_id, 1
                while key in self.progress.closed:
                    n += 1
                    key = f"{workflow_id}#{n}"
                self.progress.closed[key] = entry
                await record_result(self.client, self.store, description, entry.get("decision_id"), now=self.now)

    async def _forward_health(self, reports: Sequence[HealthReport]) -> None:
        from orchestrator.signals import forward_health

        open_maintenance = {
            w["asset_id"] for w in self.progress.workflows.values() if w["kind"] == "schedule_maintenance"
        }
        latest: dict[str, HealthReport] = {}
        for report in reports:
            if report.asset_id in open_maintenance:
                latest[report.asset_id] = report
        for report in latest.values():
            healthy = report.status.value == "green" and not report.sensor_faults
            # Only changes matter to the workflow: one signal per change, not one per tick.
            if self._forwarded.get(report.asset_id) == healthy:
                continue
            try:
                await forward_health(self.client, self.config.site, report)
                self._forwarded[report.asset_id] = healthy
            except RPCError as exc:
                log.warning("cannot forward health of %s: %s", report.asset_id, exc)

    # ---- events from the outside world -------------------------------------------------------
    async def on_work_order_completed(self, workflow_id: str) -> None:
        """The work is done (the CMMS called back, or the workflow found the closed record and now
        asks whether the asset is healthy). In the simulation: a maintenance job replaced the
        bearing, an instrument check replaced the sensor. After a maintenance job the asset's
        agent re-commissions its condition monitoring (the worn part's trend no longer applies).
        Each step is done once per workflow (marked in its progress entry); a step that failed
        is tried again the next time either path calls."""
        entry = self.progress.workflows.get(workflow_id)
        if not entry or not entry.get("asset_id"):
            return
        asset = entry["asset_id"]
        if self.sim is not None and not entry.get("twin_done"):
            try:
                if entry["kind"] == "schedule_maintenance":
                    self.sim.repair(asset)
                elif entry["kind"] == "create_work_order" and entry.get("instrument_check"):
                    self.sim.fix_instruments(asset)
            except Exception as exc:  # noqa: BLE001  an asset without a twin is not repaired
                log.info("no twin to repair for %s: %s", asset, exc)
            entry["twin_done"] = True
        if entry["kind"] == "schedule_maintenance" and not entry.get("agent_told"):
            try:
                # A Ray call waits; off the event loop, like ingest, so the web stays responsive.
                await asyncio.to_thread(self.fleet.maintenance_done, asset, self.now)
                entry["agent_told"] = True
            except AutoopsError as exc:  # the CMMS callback must not fail on an unhosted asset
                log.warning("maintenance of %s not passed to its agent yet (asked again when the "
                            "workflow checks its health): %s", asset, exc)

    async def asset_health(self, asset_id: str) -> HealthConfirmation | None:
        """The maintenance workflow's "healthy again?" question, answered by the asset's agent.

        The workflow asks only once its work order is complete, which it may have learnt from the
        CMMS record rather than from a callback: make sure the agent knows the work was done."""
        from orchestrator.signals import confirmation_of
        from workflows.models import maintenance_id

        await self.on_work_order_completed(maintenance_id(self.config.site, asset_id))

        try:
            report = await asyncio.to_thread(self.fleet.latest_of, asset_id)
        except AutoopsError as exc:  # not hosted, or Ray slow: the workflow asks again later
            log.warning("health of %s not available: %s", asset_id, exc)
            return None
        return confirmation_of(report) if report is not None else None

    def on_parts_used(self, sku: str, qty: float) -> None:
        if self.sim is not None:
            try:
                self.sim.issue(sku, qty)
            except Exception as exc:  # noqa: BLE001
                log.info("no stock twin for %s: %s", sku, exc)

    def on_goods_received(self, sku: str, qty: float) -> None:
        if self.sim is not None:
            try:
                self.sim.receive(sku, qty)
            except Exception as exc:  # noqa: BLE001
                log.info("no stock twin for %s: %s", sku, exc)
