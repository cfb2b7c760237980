"""The shift report's one activity: write the report of a shift, once (the writer is injected)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from workflows.shift_report.models import NextShiftQuery, ShiftReportRequest, ShiftReportResult
from workflows.shift_report.planning import next_shift_end
from workflows.shift_report.workflow import NEXT_SHIFT, WRITE_REPORT

ReportWriter = Callable[[ShiftReportRequest], Awaitable[ShiftReportResult]]


class ShiftReportActivities:
    def __init__(self, writer: ReportWriter) -> None:
        self.writer = writer

    @activity.defn(name=WRITE_REPORT)
    async def write_shift_report(self, request: ShiftReportRequest) -> ShiftReportResult:
        return await self.writer(request)

    @activity.defn(name=NEXT_SHIFT)
    async def next_shift_end(self, query: NextShiftQuery) -> ShiftReportRequest | None:
        return next_shift_end(query.clock, query.now)

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        return [self.write_shift_report, self.next_shift_end]
