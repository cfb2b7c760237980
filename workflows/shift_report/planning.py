"""When does the next shift end? Plain calendar arithmetic in the plant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from workflows.shift_report.models import ShiftClockInput, ShiftReportRequest


def next_shift_end(inp: ShiftClockInput, now: datetime) -> ShiftReportRequest | None:
    """The first shift to end after ``now``; shifts past midnight end on the next day."""
    zone = ZoneInfo(inp.timezone)
    today = now.astimezone(zone).date()
    best: ShiftReportRequest | None = None
    for offset in (-1, 0, 1, 2):
        day = today + timedelta(days=offset)
        for s in inp.shifts:
            start_t, end_t = time.fromisoformat(s.start), time.fromisoformat(s.end)
            start = datetime.combine(day, start_t, tzinfo=zone)
            end = datetime.combine(day, end_t, tzinfo=zone)
            if end <= start:
                end = datetime.combine(day + timedelta(days=1), end_t, tzinfo=zone)
            if end <= now or (best is not None and end >= best.end):
                continue
            best = ShiftReportRequest(
                site=inp.site, shift_key=f"{day.isoformat()}:{s.name}", shift=s.name,
                day=day.isoformat(), start=start.astimezone(UTC), end=end.astimezone(UTC),
                fired_at=end.astimezone(UTC),
            )
    return best
