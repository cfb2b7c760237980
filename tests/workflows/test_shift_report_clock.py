"""The shift-report clock on the time-skipping server: it fires at the shift's end (plant time
zone) and writes that shift's report once, even when the write is retried."""

from __future__ import annotations

import asyncio
import uuid
from datetime import time, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.config import PlantConfig, Schedule, Shift
from orchestrator.history import schema
from orchestrator.history.recorder import recorder_for
from orchestrator.report.archive import report_writer
from orchestrator.temporal import time_skipping_server_path
from workflows.shift_report.activities import ShiftReportActivities
from workflows.shift_report.models import ShiftClockInput, ShiftReportRequest, ShiftTimes, clock_id
from workflows.shift_report.planning import next_shift_end
from workflows.shift_report.workflow import ShiftReportClock

SCHEDULE = Schedule(
    timezone="Europe/Berlin",
    shifts=(
        Shift(name="early", start=time(6), end=time(14)),
        Shift(name="late", start=time(14), end=time(22)),
        Shift(name="night", start=time(22), end=time(6)),  # past midnight
    ),
)


async def test_clock_fires_at_shift_end_and_writes_the_report_once(tmp_path: Path) -> None:
    config = PlantConfig(
        site="clock-site", schedule=SCHEDULE,
        machines=({"id": "mill-1", "line": "line-a", "capabilities": ["milling.3axis"]},),
    )
    recorder = recorder_for(config, tmp_path)
    write = report_writer(tmp_path)
    calls: list[tuple[ShiftReportRequest, bool]] = []

    async def crashing_once(request: ShiftReportRequest):  # type: ignore[no-untyped-def]
        result = await write(request)
        calls.append((request, result.written))
        if len(calls) == 1:
            raise RuntimeError("worker lost after writing (the activity will be retried)")
        return result

    inp = ShiftClockInput(
        site="clock-site", timezone=SCHEDULE.timezone,
        shifts=tuple(ShiftTimes(name=s.name, start=s.start.isoformat("minutes"),
                                end=s.end.isoformat("minutes")) for s in SCHEDULE.shifts),
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(time_skipping_server_path())
    )
    queue = f"clock-{uuid.uuid4().hex[:6]}"
    try:
        now = await env.get_current_time()
        expected = next_shift_end(inp, now)
        assert expected is not None and expected.end > now
        hour = expected.start.replace(minute=0, second=0, microsecond=0)
        while hour < expected.end:  # the shift's production, as the loop would have recorded it
            recorder.production(hour, hour + timedelta(hours=1), failed=set())
            hour += timedelta(hours=1)
        async with Worker(env.client, task_queue=queue, workflows=[ShiftReportClock],
                          activities=ShiftReportActivities(crashing_once).all()):
            handle = await env.client.start_workflow(
                ShiftReportClock.run, inp, id=clock_id("clock-site"), task_queue=queue
            )
            planned = ""
            for _ in range(200):  # the clock asks the calendar first (an activity)
                planned = await handle.query(ShiftReportClock.next_shift)
                if planned:
                    break
                await asyncio.sleep(0.05)
            assert planned == expected.shift_key
            await env.sleep((expected.end - now).total_seconds() - 60)
            assert calls == []  # not before the shift has ended
            await env.sleep(120)
            for _ in range(200):  # the retry runs after its backoff (skipped time)
                if len(calls) >= 2:
                    break
                await env.sleep(10)
                await asyncio.sleep(0.05)
            await handle.terminate("test over")
        assert [c[1] for c in calls] == [True, False]  # written once; the retry found it there
        request = calls[0][0]
        assert request.shift_key == expected.shift_key
        assert request.fired_at >= expected.end  # fired at the end of the shift, not before
        assert request.fired_at - expected.end < timedelta(minutes=2)
        reports = recorder.store.rows(schema.shift_reports)
        assert [r["shift_key"] for r in reports] == [expected.shift_key]
        assert reports[0]["report"]["machines"]["mill-1"]["planned_busy_h"] > 0
        pages = list((tmp_path / "reports").glob("*.html"))
        assert len(pages) == 1 and "<svg" in pages[0].read_text()
    finally:
        await env.shutdown()
        recorder.store.close()
