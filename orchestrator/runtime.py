"""The loop: readings -> agents on Ray -> reports -> policies -> decisions -> workflows.

``Orchestrator`` owns one tick of the plant (``step``) and what it needs to resume after a stop:
the simulation's position and journal, the policy engine's state and the workflows it started are
saved after every tick (``progress.json`` in the state directory, atomically, or the shared
state database: ``orchestrator.state``), the agents'
state lives in their own checkpoints, the workflows in Temporal. A restarted orchestrator picks up
where the last one stopped and a decision already acted on never starts a second workflow.

The tick reads, assesses, decides and hands over; the parts live beside it: ``assembly`` brings a
loop up, ``plant_context`` builds what the policies see, ``dispatch`` starts workflows through the
action-kind registry (``workflows/kinds.py``) and keeps the ``ledger`` of the ones it started, and
``collaborators`` says what the loop asks of the fleet, the MES and the twin feed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opentelemetry import metrics
from temporalio.client import Client

from agents.base import Reading
from agents.errors import AutoopsError, InputError
from agents.models import HealthReport
from agents.simulator.plant import PlantSim
from agents.sources.hub import SourceHub
from orchestrator.alarms import AlarmService
from orchestrator.assets import asset_specs, catalog
from orchestrator.clock import WALL_CLOCK, DeploymentClock
from orchestrator.collaborators import Feed, Fleet, Mes
from orchestrator.config import PlantConfig
from orchestrator.dispatch import Dispatcher
from orchestrator.history.recorder import HistoryRecorder
from orchestrator.ledger import WorkflowLedger
from orchestrator.partitions import Partition
from orchestrator.plant_context import PlantContext
from orchestrator.progress import History, Progress, ProgressStore
from orchestrator.state import State
from policies.base import PolicyContext
from policies.engine import PolicyEngine
from policies.models import Decision
from policies.store import DecisionLog
from workflows.kinds import MAINTENANCE, WORK_ORDER
from workflows.models import HealthConfirmation

log = logging.getLogger(__name__)
meter = metrics.get_meter("autoops.orchestrator")
REPORTS = meter.create_counter("autoops.reports", description="health reports received")
#: Most readings one step takes from the live sources' buffer: several seconds of a 10,000-asset
#: plant at 1 Hz (the agents assess them a round at a time, one reading per asset per round).
STEP_READINGS_MAX = 100_000


class LeaseLostError(AutoopsError):
    """This process may no longer hold the partition's lease: the tick acts on nothing."""


@dataclass
class _Ahead:
    """Readings handed to the agents before their step: assessed while the last step decided."""

    readings: list[Reading]
    delivered: int | None  # the live buffer's sequence number to acknowledge them with
    assessed: concurrent.futures.Future[list[HealthReport]]


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
        fleet: Fleet,
        engine: PolicyEngine,
        store: DecisionLog,
        progress: Progress,
        state_dir: Path,
        sim: PlantSim | None,
        mes: Mes | None = None,
        task_queue: str | None = None,
        hub: SourceHub | None = None,
        feed: Feed | None = None,
        recorder: HistoryRecorder | None = None,
        state: State | None = None,
        progress_store: ProgressStore | None = None,
        partition: Partition | None = None,
    ) -> None:
        from orchestrator.approvals import policy_from_config
        from workflows.models import ApprovalTier

        self.config = config
        # The demo's twin publishes through OPC UA / MQTT / Modbus (agents.simulator.feed): each
        # tick it writes the simulation's readings there, and they come back through the hub.
        self.recorder = recorder  # the history store's writer (orchestrator.history), or None
        self.feed = feed
        self.hub = hub  # live sources; their readings wait on disk until the agents have them
        self.backlog = False  # the last step left live readings in the buffer (it took its most)
        # Pipelining (``step``): the next step's readings are handed to the agents as soon as this
        # step's are assessed, so the agents work while this step decides, acts and saves. On
        # for live sources (``autoops run`` / ``autoops loop``); a caller handing readings gives
        # ``step(upcoming=...)``. The simulation's own ticks (and the twin feed) step one by one.
        self.pipeline = False
        self.tick_s = 1.0  # the live loop's tick (``autoops run`` / ``loop`` set theirs)
        self._last_step_s = 0.0  # how long the last step that went through took
        self._ahead: _Ahead | None = None
        self._ahead_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.client = client
        self.fleet = fleet
        self.engine = engine
        self.store = store
        self.progress = progress
        self.state_dir = state_dir
        # Where the stores live (orchestrator.state); the progress is kept per partition.
        self.state = state or State(state_dir)
        self.progress_store = progress_store or self.state.progress()
        self.sim = sim
        self.mes = mes
        # The deployment's one clock (orchestrator/clock.py); Stack.start sets the run's.
        self.clock: DeploymentClock = WALL_CLOCK
        self.task_queue = task_queue or config.temporal.task_queue
        self.history = History()
        # The assets this loop runs (``autoops loop`` partitions a plant; one partition otherwise)
        # and, when partitions are leased, the check that this process still holds its lease.
        self.partition = partition or Partition(0, 1)
        self.holds: Callable[[], bool] | None = None
        # Raised and cleared here each tick; acknowledged and shelved through the web UI / API.
        self.alarms = AlarmService(self.state.alarms(), config)
        self._alarm_ticks = 0
        self.catalog = catalog(config)
        self.approval_policy = policy_from_config(
            config,
            auto_approve_limit=config.approvals.auto_approve_limit,
            tiers=tuple(ApprovalTier.model_validate(t) for t in config.approvals.tiers) or None,
        )
        self.plant = PlantContext(
            config,
            history=self.history,
            catalog=self.catalog,
            expected={
                spec.asset_id: spec.kind
                for spec in asset_specs(config)
                if self.partition.owns(spec.asset_id)
            },
            open_keys=self.workflows.open_keys,
            mes=mes,
        )
        self.dispatch = Dispatcher(
            client=client,
            store=store,
            ledger=self.workflows,
            site=config.site,
            approval=self.approval_policy,
            task_queue=self.task_queue,
            now=lambda: self.now,
        )

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    async def create(
        cls,
        config: PlantConfig,
        *,
        client: Client,
        state_dir: Path,
        mes: Mes | None = None,
        start: datetime | None = None,
        fleet_options: Any = None,
        feed: Feed | None = None,
        partition: Partition | None = None,
    ) -> Orchestrator:
        """Resume from the state (or start fresh) and bring up the agent fleet."""
        from orchestrator.assembly import assemble

        return await assemble(
            cls, config, client=client, state_dir=state_dir, mes=mes, start=start,
            fleet_options=fleet_options, feed=feed, partition=partition,
        )

    @property
    def workflows(self) -> WorkflowLedger:
        """The workflows this loop started (open and closed), saved with its progress."""
        return self.progress.workflows

    def close(self) -> None:
        self.drop_ahead()
        self.save()
        self.store.close()
        self.alarms.store.close()
        if self.recorder is not None:
            self.recorder.store.close()
        self.state.close()

    def save(self) -> None:
        if self.sim is not None:
            self.progress.ticks = self.sim.ticks
            self.progress.journal = list(self.sim.journal)
        self.progress.engine = self.engine.snapshot(latest=False)
        self.progress.engine_latest = self.engine.latest_json()
        self.progress_store.save(self.partition.key, self.progress)

    @property
    def now(self) -> datetime:
        if self.sim is not None:
            return self.sim.now
        return datetime.now(UTC)

    async def context(self, now: datetime) -> PolicyContext:
        return await self.plant.at(now)

    # ---- one tick ----------------------------------------------------------------------------
    async def step(
        self,
        readings: Sequence[Reading] | None = None,
        *,
        upcoming: Callable[[], Sequence[Reading]] | None = None,
    ) -> StepResult:
        """Sense -> decide -> act for one tick (readings from the simulation unless given).

        ``upcoming``: the readings of the next step that are at hand, asked for once this step's
        are assessed; they go to the agents at once and the next ``step()`` (called without
        readings) acts on them. With ``pipeline`` set and live sources, the next readings are
        taken from the buffer the same way. Either way a step acts on its readings in order,
        and live readings are acknowledged once the agents have them.
        """
        tick_start = self.now
        began = time.monotonic()
        if self._ahead is not None and readings is not None:
            raise InputError(
                "this step's readings were handed to the agents ahead (the last step's "
                "upcoming readings): call step() without readings"
            )
        if self._ahead is None:
            delivered, readings = await self._sense(readings)
            readings = self._ours(readings)
        # The plant clock moved with the twin: mark it before anything this tick starts, so a
        # workflow started now reads back as started in this plant hour, not the previous one.
        self.clock.mark()
        ahead, self._ahead = self._ahead, None  # awaited just below, whatever happens
        if ahead is not None:
            delivered, readings = ahead.delivered, ahead.readings
        reports = await self._ingest_and_refresh(
            readings, delivered, ahead.assessed if ahead is not None else None
        )
        # The agents are free: the next readings go to them now, assessed while this step
        # decides, acts and saves (at 10,000 assets a third of a tick, the agents idle otherwise).
        try:
            if self.holds is None or self.holds():  # not for a partition that may be gone
                await self._hand_ahead(upcoming)
        except Exception:  # noqa: BLE001  this step's reports must still be acted on
            log.exception("next readings not handed ahead; the next step takes them itself")
        REPORTS.add(len(reports))
        self.history.add(reports)
        await self._observe_alarms(reports)
        await self.dispatch.forward_health(reports)
        decisions = self.engine.process(reports, await self.context(self.now))
        if self.holds is not None and not self.holds():
            # Another process may own this partition now: decide nothing, save nothing (the new
            # owner resumes from the last saved tick).
            raise LeaseLostError(f"partition {self.partition.index}: lease lost; tick not acted on")
        self.store.append(decisions)
        # A decision cites report ids: this tick's, or an asset's latest from an earlier tick.
        by_id = (
            {r.report_id: r for r in (*self.history.latest().values(), *reports)}
            if decisions
            else {}  # nothing to act on: not a table of every asset's report
        )
        started = await self.dispatch.act(decisions, by_id)
        self.save()
        self._last_step_s = time.monotonic() - began
        result = StepResult(len(readings), list(reports), decisions, started)
        if self.recorder is not None:
            await self._record(result, tick_start, self.now)
        return result

    async def _ingest_and_refresh(
        self,
        readings: Sequence[Reading],
        delivered: int | None,
        assessed: concurrent.futures.Future[list[HealthReport]] | None = None,
    ) -> list[HealthReport]:
        """The agents assess the readings (on Ray, from a thread) while the open workflows are
        read back from Temporal: the two touch nothing in common, and each would otherwise wait
        for the other (at 10,000 assets the refresh is a tenth of a tick). Live readings are
        acknowledged once the agents have them, whatever the refresh does. ``assessed``: the
        readings were handed ahead and are being assessed already."""
        reports: list[HealthReport] = []
        ingest: asyncio.Future[list[HealthReport]] | None = None
        if assessed is not None:
            ingest = asyncio.wrap_future(assessed)
        elif readings:
            ingest = asyncio.ensure_future(asyncio.to_thread(self.fleet.ingest, list(readings)))
        try:
            await self.dispatch.refresh()
        finally:
            # Not abandoned half-way: the assessment ends (or fails) before the tick does.
            if ingest is not None:
                reports = await ingest
            if self.hub is not None and delivered is not None:
                self.hub.done(delivered)
        return reports

    def _ours(self, readings: Sequence[Reading]) -> Sequence[Reading]:
        if self.partition.count > 1:  # the simulation plays the whole plant: keep our assets'
            return [r for r in readings if self.partition.owns(r.asset_id)]
        return readings

    async def _hand_ahead(self, upcoming: Callable[[], Sequence[Reading]] | None) -> None:
        """Hand the next step's readings to the agents now (see ``step``), if any are at hand."""
        delivered: int | None = None
        if upcoming is not None:
            readings = list(self._ours(upcoming()))
        elif (
            self.pipeline
            and self.hub is not None
            and self.sim is None
            and self.feed is None
            # Only a loop that is behind (its last step took a whole tick, or readings wait
            # beyond one take): one that keeps up steps once a tick on what arrived meanwhile,
            # not back to back on part of it (refreshes and polls count steps).
            and (self.backlog or self._last_step_s >= self.tick_s)
        ):
            # This step's readings are acknowledged: the buffer's oldest are the next ones.
            delivered, taken = await asyncio.to_thread(self.hub.take, STEP_READINGS_MAX)
            self.backlog = len(taken) >= STEP_READINGS_MAX
            readings = list(self._ours(taken))
            if not readings:
                if delivered is not None:  # none of ours: acknowledged as a step would
                    self.hub.done(delivered)
                return
        else:
            return
        if not readings:
            return
        if self._ahead_pool is None:
            self._ahead_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ingest-ahead"
            )
        self._ahead = _Ahead(
            readings, delivered, self._ahead_pool.submit(self.fleet.ingest, readings)
        )

    async def finish_ahead(self) -> StepResult | None:
        """Act on readings handed ahead, taking no more: an orderly stop or hand-over ends with
        the step the agents already assessed (acknowledged), not with it left to a re-delivery."""
        if self._ahead is None:
            return None
        pipeline, self.pipeline = self.pipeline, False
        try:
            return await self.step()
        finally:
            self.pipeline = pipeline

    def drop_ahead(self, timeout_s: float = 300.0) -> None:
        """Let readings handed ahead finish their assessment (``timeout_s``; 0: do not wait),
        acting on nothing (a stop that could not act, a lost lease). Live ones stay
        unacknowledged and are taken again; the agents answer a reading they already assessed
        from their outbox (``AssetActor.ingest``) while it holds its reports -- not after a
        restart that lost them, so prefer ``finish_ahead`` where the step can still run."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and timeout_s > 0:
            try:
                ahead.assessed.result(timeout=timeout_s)
            except Exception as exc:  # noqa: BLE001  acted on by nobody: only said
                log.warning("readings handed ahead: assessment ended with %s", exc)
        if self._ahead_pool is not None:
            self._ahead_pool.shutdown(wait=False)
            self._ahead_pool = None

    @property
    def ahead(self) -> int:
        """Readings handed to the agents for the next step (0: the next step takes its own)."""
        return len(self._ahead.readings) if self._ahead is not None else 0

    async def _record(self, result: StepResult, start: datetime, end: datetime) -> None:
        from orchestrator.history.recorder import record_step

        try:
            await asyncio.to_thread(record_step, self.recorder, self, result, start, end)
        except Exception:  # noqa: BLE001  the history must never stop the loop
            log.exception("history: tick at %s not recorded", end.isoformat())

    async def _observe_alarms(self, reports: Sequence[HealthReport], every: int = 5) -> None:
        """Raise and clear alarms: from this tick's reports, and every few ticks from the
        workflows waiting for a person. Alarms must never stop the loop: a failure is logged.

        An asset with an open maintenance job or work order has its alarms suppressed by design."""
        under_maintenance = {
            record.asset_id: f"maintenance {workflow_id}"
            for workflow_id, record in self.workflows.open.items()
            if record.kind in (MAINTENANCE.kind, WORK_ORDER.kind) and record.asset_id
        }
        try:
            self.alarms.observe_reports(reports, suppressed=under_maintenance)
            self.alarms.expire_shelves()  # recorded when due, whether or not anyone looks
        except Exception:  # noqa: BLE001  supervisor boundary: alarms never stop the loop
            log.exception("alarms from this tick's reports not recorded")
        self._alarm_ticks += 1
        if self._alarm_ticks % every:
            return
        from orchestrator.approvals import TemporalApprovals

        try:
            waiting = await TemporalApprovals(self.client).pending_approvals()
            self.alarms.observe_approvals(waiting, self.now)
        except Exception as exc:  # noqa: BLE001  Temporal slow or down: asked again later
            log.warning("alarms of waiting workflows not refreshed: %s", exc)

    async def settle(self) -> None:
        """Record every workflow that has closed now (not at the next periodic check)."""
        await self.dispatch.refresh(every=1)

    async def _sense(self, readings: Sequence[Reading] | None) -> tuple[int | None, Sequence[Reading]]:
        """This tick's readings, and how many the hub delivered (to acknowledge once ingested)."""
        if readings is not None:
            return None, readings
        if self.feed is not None and self.sim is not None and self.hub is not None:
            # The twin's tick goes out through the protocols and comes back through the
            # sources: taken from the store-and-forward buffer like any plant's readings.
            await self.feed.publish(self.sim.tick(), self.sim.now)
            delivered, taken = self.hub.take()
            return delivered, self.feed.complete(taken)
        if self.sim is not None:
            return None, self.sim.tick()
        if self.hub is not None:
            # Oldest first, original timestamps; acknowledged only once the agents have them.
            # Everything that arrived while the last step ran, up to STEP_READINGS_MAX: a loop
            # that fell behind catches up in one step (the decide/act/save cost is per step).
            # Read and decoded in a thread: the web server shares this event loop.
            delivered, taken = await asyncio.to_thread(self.hub.take, STEP_READINGS_MAX)
            self.backlog = len(taken) >= STEP_READINGS_MAX
            return delivered, taken
        return None, []

    def pause_after_step(self, tick_s: float, elapsed_s: float, *, failed: bool = False) -> float:
        """Seconds to wait before the next step, which took ``elapsed_s``.

        A live plant's readings arrive on their own clock: the loop steps every ``tick_s`` (the
        rest of it after a step), at once while readings are waiting beyond one step's take.
        A simulated plant makes one tick per step: ``tick_s`` between steps sets its pace. After
        a step that ``failed`` the loop waits a whole tick (the same readings wait again).
        """
        if failed or self.hub is None or self.sim is not None:
            return tick_s
        if self._ahead is not None:
            return 0.0  # the next step's readings are with the agents already
        return 0.0 if self.backlog else max(0.0, tick_s - elapsed_s)

    # ---- events from the outside world -------------------------------------------------------
    async def on_work_order_completed(self, workflow_id: str) -> None:
        """The work is done (the CMMS called back, or the workflow found the closed record and now
        asks whether the asset is healthy). In the simulation: a maintenance job replaced the
        bearing, an instrument check replaced the sensor. After a maintenance job the asset's
        agent re-commissions its condition monitoring (the worn part's trend no longer applies).
        Each step is done once per workflow (marked in its progress entry); a step that failed
        is tried again the next time either path calls."""
        entry = self.workflows.get(workflow_id)
        if entry is None or not entry.asset_id:
            return
        asset = entry.asset_id
        if self.sim is not None and not entry.twin_done:
            try:
                if entry.kind == MAINTENANCE.kind:
                    self.sim.repair(asset)
                elif entry.kind == WORK_ORDER.kind and entry.instrument_check:
                    self.sim.fix_instruments(asset)
            except Exception as exc:  # noqa: BLE001  an asset without a twin is not repaired
                log.info("no twin to repair for %s: %s", asset, exc)
            entry.twin_done = True
        if entry.kind == MAINTENANCE.kind and not entry.agent_told:
            try:
                # A Ray call waits; off the event loop, like ingest, so the web stays responsive.
                await asyncio.to_thread(self.fleet.maintenance_done, asset, self.now)
                entry.agent_told = True
            except AutoopsError as exc:  # the CMMS callback must not fail on an unhosted asset
                log.warning("maintenance of %s not passed to its agent yet (asked again when the "
                            "workflow checks its health): %s", asset, exc)

    async def record_finding(self, workflow_id: str, payload: dict[str, Any]) -> None:
        """The technician's finding (CMMS completion) into the history, at the plant's time."""
        if self.recorder is None:
            return
        try:
            await asyncio.to_thread(self.recorder.finding, workflow_id, payload, self.now)
        except Exception:  # noqa: BLE001  a callback must be taken even if the history is down
            log.exception("history: finding of %s not recorded", workflow_id)

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
