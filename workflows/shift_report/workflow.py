"""The shift-report clock: sleep until the next shift ends (plant time zone), write that shift's
report, continue as new. Durable: it runs whether or not anyone is logged in, survives worker and
server restarts, and a retried write is harmless (the report is keyed by its shift).

A Temporal Schedule could fire the same activity, but the time-skipping test server has no
Schedules; a timer in a workflow behaves the same on both servers and is tested.

Deterministic workflow code: temporalio, stdlib and our models only. Shifts end in plant time:
the input's ``plant_clock`` (wall time in production, the twin's time in a simulated plant).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import clock as plant_clock
    from workflows.shift_report.models import (
        NextShiftQuery,
        ShiftClockInput,
        ShiftReportRequest,
        ShiftReportResult,
    )

WRITE_REPORT = "write_shift_report"
NEXT_SHIFT = "next_shift_end"


@workflow.defn(name="ShiftReportClock")
class ShiftReportClock:
    def __init__(self) -> None:
        self.next_key = ""
        self.last: ShiftReportResult | None = None

    @workflow.query(name="next_shift")
    def next_shift(self) -> str:
        return self.next_key

    @workflow.run
    async def run(self, inp: ShiftClockInput) -> None:
        # Time zones read files (the sandbox forbids it): the plant calendar is an activity,
        # its answer kept in the history like any other.
        upcoming = await workflow.execute_activity(
            NEXT_SHIFT,
            NextShiftQuery(clock=inp, now=await plant_clock.plant_now(inp.plant_clock)),
            result_type=ShiftReportRequest | None,  # type: ignore[arg-type]
            start_to_close_timeout=timedelta(seconds=30),
        )
        if upcoming is None:
            return  # no shifts in the plant's schedule: nothing to report
        self.next_key = upcoming.shift_key
        workflow.set_current_details(f"next report: {upcoming.shift_key} at {upcoming.end.isoformat()}")
        wait = upcoming.end - await plant_clock.plant_now(inp.plant_clock)
        if wait > timedelta(0):
            await plant_clock.sleep(inp.plant_clock, wait)
        self.last = await workflow.execute_activity(
            WRITE_REPORT,
            upcoming.model_copy(update={"fired_at": await plant_clock.plant_now(inp.plant_clock)}),
            result_type=ShiftReportResult,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=10),
        )
        workflow.continue_as_new(inp.model_copy(update={"fired": inp.fired + 1}))
