"""The plant's calendar: shifts and planned breaks in its time zone -> busy time and stops.

Takes anything shaped like ``orchestrator.config.Schedule`` (``timezone``, ``shifts`` and
``planned_breaks`` with ``name``, ``start``, ``end`` wall-clock times). A shift or break whose end
is at or before its start runs past midnight.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from orchestrator.kpi.iso22400 import ShiftWindow


class Busy(NamedTuple):
    start: datetime
    end: datetime
    shift: str


class Stop(NamedTuple):
    start: datetime
    end: datetime
    reason: str


def shifts_on(schedule: Any, day: Any) -> list[ShiftWindow]:
    return [ShiftWindow.of(s.name, day, s.start, s.end, schedule.timezone) for s in schedule.shifts]


def _windows(schedule: Any, items: Any, start: datetime, end: datetime) -> list[ShiftWindow]:
    zone = ZoneInfo(schedule.timezone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    out = []
    day = first
    while day <= last:
        for item in items:
            w = ShiftWindow.of(item.name, day, item.start, item.end, zone)
            if w.end > start and w.start < end:
                out.append(w)
        day += timedelta(days=1)
    return sorted(out, key=lambda w: w.start)


def shift_windows(schedule: Any, start: datetime, end: datetime) -> list[ShiftWindow]:
    """Every shift touching [start, end), in time order."""
    return _windows(schedule, schedule.shifts, start, end)


def split(schedule: Any, start: datetime, end: datetime) -> tuple[list[Busy], list[Stop]]:
    """[start, end) cut into planned busy segments (per shift, breaks removed) and planned stops."""
    busy: list[Busy] = []
    for shift in shift_windows(schedule, start, end):
        pieces = [(max(shift.start, start), min(shift.end, end))]
        for brk in _windows(schedule, schedule.planned_breaks, shift.start, shift.end):
            cut = []
            for s, e in pieces:
                if brk.end <= s or brk.start >= e:
                    cut.append((s, e))
                    continue
                if brk.start > s:
                    cut.append((s, brk.start))
                if brk.end < e:
                    cut.append((brk.end, e))
            pieces = cut
        busy += [Busy(s, e, shift.name) for s, e in pieces if e > s]
    busy.sort()
    stops: list[Stop] = []
    at = start
    for b in busy:
        if b.start > at:
            stops.append(Stop(at, b.start, _stop_reason(schedule, at, b.start)))
        at = max(at, b.end)
    if at < end:
        stops.append(Stop(at, end, _stop_reason(schedule, at, end)))
    return busy, stops


def _stop_reason(schedule: Any, start: datetime, end: datetime) -> str:
    for brk in _windows(schedule, schedule.planned_breaks, start, end):
        if brk.start <= start and brk.end >= end:
            return brk.name
    return "no shift planned"


def last_completed_shift(schedule: Any, now: datetime) -> ShiftWindow | None:
    """The shift that ended last at or before ``now``."""
    done = [w for w in shift_windows(schedule, now - timedelta(days=3), now) if w.end <= now]
    return done[-1] if done else None


def next_shift_end(schedule: Any, now: datetime) -> ShiftWindow | None:
    """The next shift to end after ``now`` (the report's next firing)."""
    ahead = [w for w in shift_windows(schedule, now, now + timedelta(days=3)) if w.end > now]
    return min(ahead, key=lambda w: w.end) if ahead else None


def find_shift(schedule: Any, day: Any, name: str) -> ShiftWindow:
    for w in shifts_on(schedule, day):
        if w.name == name:
            return w
    raise KeyError(f"no shift {name!r} in the plant's schedule; shifts: {[s.name for s in schedule.shifts]}")
