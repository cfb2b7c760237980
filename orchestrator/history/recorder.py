"""``HistoryRecorder``: what each tick of the loop leaves in the history store.

Called by the orchestrator after every tick and by the callback intake when a work order closes.
Health: a row per status change and each main indicator once per ``indicator_every_h``.
Decisions and their workflows; breakdowns (an asset failed, with or without an open decision).
Production: in a simulated plant the twin's production (``agents.simulator.production``) over the
tick's interval, cut by the plant's calendar into planned busy time and planned stops: machine
states with reasons, counts (produced / good, batch) and each machine's energy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agents.models import HealthReport
from agents.simulator.production import ProductionTwin
from orchestrator.history import schema
from orchestrator.history.store import HistoryStore
from orchestrator.kpi.calendar import split
from policies.models import Decision

log = logging.getLogger(__name__)

#: Ideal cycle time (s) of a machine by the first capability family it has; a plant file may
#: give ``ideal_cycle_s`` in the machine's table of the simulation's twin instead.
IDEAL_CYCLE_S = {"heat_treat": 240.0, "milling": 150.0, "turning": 75.0}
MAIN_INDICATORS = 6


def _ideal_cycle(table: Mapping[str, Any]) -> float:
    for capability in table.get("capabilities", ()):
        family = str(capability).split(".")[0]
        if family in IDEAL_CYCLE_S:
            return IDEAL_CYCLE_S[family]
    return 120.0


class HistoryRecorder:
    def __init__(
        self,
        store: HistoryStore,
        *,
        schedule: Any,
        machines: Sequence[Mapping[str, Any]] = (),
        seeds: Mapping[str, int] | None = None,
        indicator_every_h: float = 1.0,
        retention_days: float | None = None,
        site: str = "",
        watchers: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self.store = store
        self.site = site
        self.watchers = dict(watchers or {})
        self.schedule = schedule
        self.indicator_every = timedelta(hours=indicator_every_h)
        self.retention = timedelta(days=retention_days) if retention_days else None
        self.twins = {
            t["id"]: ProductionTwin(
                asset_id=t["id"],
                line=t.get("line") or "",
                ideal_cycle_s=_ideal_cycle(t),
                seed=(seeds or {}).get(t["id"], 1),
            )
            for t in machines
        }
        self._status: dict[str, str] = {}
        self._indicator_at: dict[str, datetime] = {}
        self._failed: set[str] = set()
        self.closed_seen: set[str] = set()
        for row in store.rows(schema.status_changes, order_by=[schema.status_changes.c.at]):
            self._status[row["asset_id"]] = row["status"]
        self._failed = {row["asset_id"] for row in store.rows(schema.breakdowns)}

    # ---- health -----------------------------------------------------------------------------
    def health(self, reports: Iterable[HealthReport]) -> None:
        changes, series = [], []
        for report in reports:
            status = report.status.value
            previous = self._status.get(report.asset_id)
            if previous != status:
                changes.append(
                    {
                        "asset_id": report.asset_id,
                        "asset_kind": report.asset_kind.value,
                        "at": report.time,
                        "status": status,
                        "previous": previous,
                        "health_score": report.health_score,
                        "summary": report.summary[:500],
                    }
                )
                self._status[report.asset_id] = status
            last = self._indicator_at.get(report.asset_id)
            if last is None or report.time - last >= self.indicator_every:
                self._indicator_at[report.asset_id] = report.time
                series.append({"asset_id": report.asset_id, "name": "health_score",
                               "at": report.time, "value": report.health_score, "unit": ""})
                series += [
                    {"asset_id": report.asset_id, "name": i.name, "at": report.time,
                     "value": i.value, "unit": i.unit or ""}
                    for i in report.indicators[:MAIN_INDICATORS]
                    if i.value is not None
                ]
        self.store.add_status_changes(changes)
        self.store.add_indicators(series)

    # ---- decisions and workflows ------------------------------------------------------------
    def decisions(self, decisions: Iterable[Decision], workflow_of: Mapping[str, str]) -> None:
        rows = []
        for d in decisions:
            rows.append(
                {
                    "decision_id": d.decision_id,
                    "at": d.time,
                    "policy_id": d.policy_id,
                    "policy_version": d.policy_version,
                    "asset_id": d.asset_id or (d.proposed.asset_id if d.proposed else None),
                    "outcome": d.outcome.value,
                    "action_kind": d.proposed.action.kind if d.proposed else None,
                    "workflow_id": workflow_of.get(d.decision_id),
                }
            )
        self.store.add_decisions(rows)

    def workflow_started(self, workflow_id: str, entry: Mapping[str, Any]) -> None:
        self.store.upsert_workflow(
            workflow_id,
            kind=entry.get("kind", ""),
            asset_id=entry.get("asset_id"),
            decision_id=entry.get("decision_id"),
            started_at=_time(entry.get("started_at")),
            status="running",
        )

    def workflow_closed(self, workflow_id: str, entry: Mapping[str, Any]) -> None:
        self.store.upsert_workflow(
            workflow_id,
            kind=entry.get("kind", ""),
            status=entry.get("status"),
            closed_at=_time(entry.get("closed_at")),
        )

    def finding(self, workflow_id: str, payload: Mapping[str, Any], at: datetime) -> None:
        """A CMMS completion's finding (``fault_confirmed``: true / false / absent)."""
        confirmed = payload.get("fault_confirmed")
        self.store.record_finding(
            workflow_id,
            fault_confirmed=confirmed if isinstance(confirmed, bool) else None,
            notes=str(payload.get("notes") or payload.get("completion_notes") or ""),
            at=at,
            work_order_id=str(payload.get("work_order_id") or "") or None,
            asset_id=str(payload.get("asset_id") or "") or None,
        )

    def breakdowns(self, failed: Iterable[str], open_assets: set[str], at: datetime) -> None:
        """Each asset's failure once; ``open_decision``: a workflow was already acting on it."""
        for asset in failed:
            if asset in self._failed:
                continue
            self._failed.add(asset)
            self.store.add_breakdown(
                asset, at, open_decision=asset in open_assets,
                summary="failed red" + ("" if asset in open_assets else " with no open decision"),
            )

    # ---- production -------------------------------------------------------------------------
    def production(self, start: datetime, end: datetime, failed: set[str]) -> None:
        """The twin's production over [start, end): states, counts and energy per machine."""
        busy, stops = split(self.schedule, start, end)
        states, counts, energy = [], [], []
        for asset, twin in self.twins.items():
            for stop in stops:
                states.append({"asset_id": asset, "start": stop.start, "end": stop.end,
                               "state": "planned_stop", "reason": stop.reason, "planned": True})
            kwh = 0.0
            for segment in busy:
                out = twin.run(segment.start, segment.end, shift=segment.shift, failed=asset in failed)
                states += [
                    {"asset_id": asset, "start": s.start, "end": s.end, "state": s.state,
                     "reason": s.reason, "planned": False}
                    for s in out.segments
                ]
                counts.append({"asset_id": asset, "start": segment.start, "end": segment.end,
                               "line": twin.line, "batch": out.batch,
                               "ideal_cycle_s": twin.ideal_cycle_s, "produced": out.produced,
                               "good": out.good})
                kwh += out.kwh
            if stops:  # standby power while nothing is planned
                kwh += twin.idle_kw * 0.25 * sum((s.end - s.start).total_seconds() for s in stops) / 3600
            energy.append({"meter_id": asset, "at": start, "line": twin.line, "kwh": round(kwh, 4)})
        self.store.add_machine_states(states)
        self.store.add_counts(counts)
        self.store.add_energy(energy)
        if self.retention is not None:
            self.store.prune(end - self.retention)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))



def record_step(recorder: HistoryRecorder, orch: Any, result: Any, start: datetime, end: datetime) -> None:
    """One tick of ``orchestrator.runtime.Orchestrator`` into the history (sync; off the loop)."""
    ledger = orch.workflows  # orchestrator.ledger.WorkflowLedger: open and closed records
    recorder.health(result.reports)
    workflow_of = {r.decision_id: wid for wid, r in ledger.open.items() if r.decision_id}
    recorder.decisions(result.decisions, workflow_of)
    for workflow_id in result.started:
        record = ledger.open.get(workflow_id)
        if record is not None:
            recorder.workflow_started(workflow_id, record.model_dump())
    for key, record in ledger.closed.items():
        if key not in recorder.closed_seen:
            recorder.closed_seen.add(key)
            recorder.workflow_closed(record.workflow_id or key, record.model_dump())
    failed = set(orch.sim.failed()) if orch.sim is not None else set()
    open_assets = {r.asset_id for r in ledger.open.values() if r.asset_id}
    recorder.breakdowns(sorted(failed), open_assets, end)
    if orch.sim is not None and end > start:
        recorder.production(start, end, failed)
        # A simulated plant's shifts end on the simulation's clock, not on the wall's: the
        # loop archives their reports (a plant on wall time has the Temporal clock for that).
        from orchestrator.report.clock import archive_ended_shifts

        archive_ended_shifts(recorder, recorder.schedule, start, end)


PLANT_FILE = "learn.json"


def write_plant_file(config: Any, state_dir: Path, watchers: Mapping[str, Sequence[tuple[str, str]]]) -> None:
    """What ``autoops report`` needs besides the database: site, calendar, store, watchers."""
    doc = {
        "site": config.site,
        "schedule": config.schedule.model_dump(mode="json"),
        "history_url": config.history.url,
        "watchers": {a: [list(w) for w in ws] for a, ws in watchers.items()},
    }
    path = Path(state_dir) / PLANT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def recorder_for(
    config: Any, state_dir: Any, watchers: Mapping[str, Sequence[tuple[str, str]]] | None = None
) -> HistoryRecorder:
    """The recorder of a plant: its history store (``[history]``), calendar and machines."""
    write_plant_file(config, state_dir, watchers or {})
    store = HistoryStore.for_state_dir(state_dir, config.history.url)
    seeds = {t.get("asset"): int(t.get("seed", 1)) for t in config.simulation.get("twins", ())}
    return HistoryRecorder(
        store,
        schedule=config.schedule,
        machines=config.machines,
        seeds=seeds,
        indicator_every_h=config.history.indicator_every_h,
        retention_days=config.history.retention_days,
        site=config.site,
        watchers=watchers,
    )
