"""ISO 22400-2 OEE and its time model.

    planned busy time (PBT) = shift length - planned stops (breaks, planned maintenance)
    actual production time (APT, "run time") = PBT - unplanned downtime (incl. micro-stops)
    availability = APT / PBT
    performance  = ideal cycle time x produced quantity / APT
    quality      = good quantity / produced quantity
    OEE          = availability x performance x quality

Edge cases are answered, not raised: no planned time gives availability 0 (nothing was planned,
nothing was available) and OEE 0; zero output gives performance 0 and quality 0 (no good part
was made). Performance is capped at 1: a count above the ideal rate means the ideal cycle time
is wrong, and OEE must stay a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class OeeFigures:
    availability: float
    performance: float
    quality: float
    oee: float
    planned_busy_h: float
    run_h: float
    produced: int
    good: int


def _fraction(num: float, den: float) -> float:
    if den <= 0:
        return 0.0
    return max(0.0, min(1.0, num / den))


def oee(
    *,
    planned_busy_h: float,
    run_h: float,
    ideal_cycle_s: float,
    produced: int,
    good: int,
) -> OeeFigures:
    """OEE of one machine over one period (hours and counts of that period)."""
    if run_h > planned_busy_h + 1e-9:
        raise ValueError(f"run time {run_h} h exceeds planned busy time {planned_busy_h} h")
    if good > produced:
        raise ValueError(f"good count {good} exceeds produced count {produced}")
    availability = _fraction(run_h, planned_busy_h)
    performance = _fraction(ideal_cycle_s * produced / 3600.0, run_h)
    quality = _fraction(good, produced)
    return OeeFigures(
        availability=availability,
        performance=performance,
        quality=quality,
        oee=availability * performance * quality,
        planned_busy_h=planned_busy_h,
        run_h=run_h,
        produced=produced,
        good=good,
    )


@dataclass(frozen=True)
class ShiftWindow:
    """One shift of one day, in the plant's time zone; ``end`` may be on the next day."""

    name: str
    day: date
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC

    @property
    def key(self) -> str:
        return f"{self.day.isoformat()}:{self.name}"

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    @classmethod
    def of(cls, name: str, day: date, start: time, end: time, tz: str | tzinfo) -> ShiftWindow:
        """A shift from wall-clock times; an end at or before the start is on the next day."""
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        begin = datetime.combine(day, start, tzinfo=zone)
        finish = datetime.combine(day, end, tzinfo=zone)
        if finish <= begin:
            finish = datetime.combine(day + timedelta(days=1), end, tzinfo=zone)
        utc = ZoneInfo("UTC")
        return cls(name=name, day=day, start=begin.astimezone(utc), end=finish.astimezone(utc))


def overlap_h(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> float:
    """Hours two intervals share (0 when they do not meet)."""
    start, end = max(a_start, b_start), min(a_end, b_end)
    return max(0.0, (end - start).total_seconds() / 3600.0)
