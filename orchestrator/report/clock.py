"""Run the shift-report clock (``workflows.shift_report``) for a plant on wall-clock time.

``start_report_clock``: a worker for the clock's workflow and activities on its own task queue
(``<task_queue>-reports``) and the clock workflow itself, started once per site (its id is
``report-clock:<site>``; a second start finds the running one). A simulated plant runs on the
simulation's clock instead: ``archive_ended_shifts`` is called by the loop after each tick (a
shift's report must follow the loop's record of the shift's last tick, which only the loop
knows). The clock workflow reads time through the deployment's one clock all the same
(``plant_clock`` in its input; ``plant_now`` on its worker): it never keeps a clock of its own.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from workflows.clock import PLANT_NOW_ACTIVITY, WALL, PlantClock
from workflows.shift_report.activities import ShiftReportActivities
from workflows.shift_report.models import ShiftClockInput, ShiftTimes, clock_id
from workflows.shift_report.workflow import ShiftReportClock

log = logging.getLogger(__name__)


def clock_input(config: Any, plant_clock: PlantClock = WALL) -> ShiftClockInput:
    return ShiftClockInput(
        site=config.site,
        plant_clock=plant_clock,
        timezone=config.schedule.timezone,
        shifts=tuple(
            ShiftTimes(name=s.name, start=s.start.isoformat("minutes"), end=s.end.isoformat("minutes"))
            for s in config.schedule.shifts
        ),
    )


async def start_report_clock(
    client: Client, config: Any, state_dir: Path, clock: Any = None
) -> Worker:
    """The clock's worker (not yet running: the caller runs it) and the clock, started once.
    ``clock``: the deployment's one clock (``orchestrator.clock.DeploymentClock``; wall time if
    not given)."""
    from orchestrator.clock import WALL_CLOCK
    from orchestrator.report.archive import report_writer

    clock = clock or WALL_CLOCK

    @activity.defn(name=PLANT_NOW_ACTIVITY)
    async def plant_now() -> datetime:
        return clock.now()

    queue = f"{config.temporal.task_queue}-reports"
    worker = Worker(
        client, task_queue=queue, workflows=[ShiftReportClock],
        activities=[*ShiftReportActivities(report_writer(state_dir)).all(), plant_now],
    )
    await client.start_workflow(
        ShiftReportClock.run, clock_input(config, clock.model), id=clock_id(config.site), task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return worker


def archive_ended_shifts(plant: Any, schedule: Any, start: datetime, end: datetime) -> list[str]:
    """Archive (JSON in the history store) each shift that ended in (start, end]; once each."""
    from orchestrator.kpi.calendar import shift_windows
    from orchestrator.report.shift import build_shift_report

    written = []
    for shift in shift_windows(schedule, start, end):
        if not start < shift.end <= end or plant.store.report(shift.key) is not None:
            continue
        report = build_shift_report(plant.store, plant, shift, watchers=plant.watchers)
        if plant.store.save_report(shift.key, plant.site, report, end):
            written.append(shift.key)
    return written
