"""The MES's plant data: machines with capabilities, a shift pattern with planned breaks and
maintenance windows, and the queued jobs; plus the expansion of the weekly pattern into dated
windows. ``DEFAULT_PLANT`` is the sample plant the demo uses (mills, lathes, a furnace).

Times of day are UTC; weekdays are ``datetime.weekday()`` numbers (0 = Monday).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field

from workflows.integrations.models import (
    Capability,
    Machine,
    QueuedJob,
    ScheduleWindow,
    WindowKind,
)

WEEKDAYS = (0, 1, 2, 3, 4)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Shift(Frozen):
    """A production shift; ``end <= start`` means it runs past midnight."""

    name: str
    start: time
    end: time
    weekdays: tuple[int, ...] = WEEKDAYS


class PlannedBreak(Frozen):
    label: str
    start: time
    minutes: int = Field(gt=0)
    weekdays: tuple[int, ...] = WEEKDAYS


class MaintenanceSlot(Frozen):
    """A recurring planned maintenance window; ``asset_ids`` empty means every machine."""

    label: str
    start: time
    hours: float = Field(gt=0)
    weekdays: tuple[int, ...]
    asset_ids: tuple[str, ...] = ()


class PlantPlan(Frozen):
    """Everything the reference MES knows at first start (its ledger keeps later changes)."""

    machines: tuple[Machine, ...]
    shifts: tuple[Shift, ...]
    breaks: tuple[PlannedBreak, ...] = ()
    maintenance: tuple[MaintenanceSlot, ...] = ()
    jobs: tuple[QueuedJob, ...] = ()


def _at(day: date, t: time) -> datetime:
    return datetime.combine(day, t, tzinfo=UTC)


def expand(
    plan: PlantPlan, start: datetime, end: datetime, asset_id: str | None
) -> list[ScheduleWindow]:
    """Dated windows touching ``[start, end)``: shifts cut by breaks, breaks, maintenance."""
    windows: list[ScheduleWindow] = []
    day = start.astimezone(UTC).date() - timedelta(days=1)  # a night shift may start yesterday
    last = end.astimezone(UTC).date()
    while day <= last:
        wd = day.weekday()
        for shift in plan.shifts:
            if wd not in shift.weekdays:
                continue
            s = _at(day, shift.start)
            e = _at(day + timedelta(days=1) if shift.end <= shift.start else day, shift.end)
            breaks = sorted(
                (b_start, b_start + timedelta(minutes=b.minutes), b.label)
                for b in plan.breaks
                for b_day in (day, day + timedelta(days=1))
                if b_day.weekday() in b.weekdays
                for b_start in (_at(b_day, b.start),)
                if s <= b_start < e
            )
            cursor = s
            for b_start, b_end, label in breaks:
                if b_start > cursor:
                    windows.append(
                        ScheduleWindow(
                            kind=WindowKind.PRODUCTION, start=cursor, end=b_start, label=shift.name
                        )
                    )
                windows.append(
                    ScheduleWindow(
                        kind=WindowKind.BREAK, start=b_start, end=min(b_end, e), label=label
                    )
                )
                cursor = max(cursor, min(b_end, e))
            if cursor < e:
                windows.append(
                    ScheduleWindow(
                        kind=WindowKind.PRODUCTION, start=cursor, end=e, label=shift.name
                    )
                )
        for slot in plan.maintenance:
            if wd not in slot.weekdays:
                continue
            if asset_id is not None and slot.asset_ids and asset_id not in slot.asset_ids:
                continue
            s = _at(day, slot.start)
            windows.append(
                ScheduleWindow(
                    kind=WindowKind.MAINTENANCE,
                    start=s,
                    end=s + timedelta(hours=slot.hours),
                    label=slot.label,
                    asset_id=slot.asset_ids[0] if len(slot.asset_ids) == 1 else None,
                )
            )
        day += timedelta(days=1)
    return sorted(
        (w for w in windows if w.end > start and w.start < end),
        key=lambda w: (w.start, w.kind.value),
    )


def _cap(cap_id: str, description: str, **properties: float | str) -> Capability:
    return Capability(id=cap_id, description=description, properties=properties)


MILL_3 = _cap("milling.3axis", "3-axis milling", max_part_mm=600)
MILL_5 = _cap("milling.5axis", "5-axis simultaneous milling", max_part_mm=400)
DRILL = _cap("drilling", "drilling and tapping")
TURN = _cap("turning", "CNC turning", max_diameter_mm=300)
THREAD = _cap("threading", "thread turning")
HARDEN = _cap("heat_treat.harden", "through hardening", max_temp_c=1100)
ANNEAL = _cap("heat_treat.anneal", "annealing", max_temp_c=900)


def _job(
    job_id: str, asset: str, seq: int, product: str, op: str, caps: tuple[str, ...], hours: float
) -> QueuedJob:
    return QueuedJob(
        job_id=job_id,
        asset_id=asset,
        product=product,
        operation=op,
        required_capabilities=caps,
        duration_h=hours,
        sequence=seq,
    )


DEFAULT_PLANT = PlantPlan(
    machines=(
        Machine(
            asset_id="mill-1",
            name="Mill 1 (5-axis)",
            kind="mill",
            line="machining",
            capabilities=(MILL_3, MILL_5, DRILL),
        ),
        Machine(
            asset_id="mill-2",
            name="Mill 2",
            kind="mill",
            line="machining",
            capabilities=(MILL_3, DRILL),
        ),
        Machine(
            asset_id="lathe-1",
            name="Lathe 1",
            kind="lathe",
            line="turning",
            capabilities=(TURN, THREAD),
        ),
        Machine(
            asset_id="lathe-2", name="Lathe 2", kind="lathe", line="turning", capabilities=(TURN,)
        ),
        Machine(
            asset_id="furnace-1",
            name="Hardening furnace",
            kind="furnace",
            line="heat_treatment",
            capabilities=(HARDEN, ANNEAL),
        ),
    ),
    shifts=(
        Shift(name="early shift", start=time(6), end=time(14)),
        Shift(name="late shift", start=time(14), end=time(22)),
    ),
    breaks=(
        PlannedBreak(label="early shift break", start=time(10), minutes=30),
        PlannedBreak(label="late shift break", start=time(18), minutes=30),
    ),
    maintenance=(
        MaintenanceSlot(
            label="night maintenance window", start=time(22), hours=4, weekdays=(0, 1, 2, 3)
        ),
        MaintenanceSlot(label="Saturday maintenance window", start=time(6), hours=8, weekdays=(5,)),
    ),
    jobs=(
        _job("J-1001", "mill-1", 1, "gearbox housing", "rough milling", ("milling.3axis",), 3.0),
        _job("J-1002", "mill-1", 2, "impeller", "5-axis finishing", ("milling.5axis",), 4.0),
        _job("J-1003", "mill-1", 3, "bracket", "drill pattern", ("milling.3axis", "drilling"), 1.5),
        _job("J-1004", "mill-2", 1, "cover plate", "face milling", ("milling.3axis",), 2.0),
        _job(
            "J-2001", "lathe-1", 1, "drive shaft", "turn and thread", ("turning", "threading"), 2.5
        ),
        _job("J-2002", "lathe-1", 2, "bushing", "turning", ("turning",), 1.0),
        _job("J-2003", "lathe-2", 1, "spacer", "turning", ("turning",), 0.5),
        _job("J-3001", "furnace-1", 1, "drive shaft", "hardening", ("heat_treat.harden",), 6.0),
    ),
)
