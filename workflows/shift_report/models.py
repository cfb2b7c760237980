"""Inputs and results of the shift-report clock (pydantic, frozen; passed through the sandbox)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from workflows.clock import WALL, PlantClock


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ShiftTimes(_Frozen):
    name: str
    start: str  # "HH:MM" wall clock, plant time zone
    end: str  # at or before start: the shift ends on the next day


class ShiftClockInput(_Frozen):
    site: str
    timezone: str
    shifts: tuple[ShiftTimes, ...]
    fired: int = 0  # reports written so far (carried across continue-as-new)
    plant_clock: PlantClock = WALL  # the deployment's one clock (workflows/clock.py)


class NextShiftQuery(_Frozen):
    clock: ShiftClockInput
    now: datetime


class ShiftReportRequest(_Frozen):
    site: str
    shift_key: str  # "<day>:<shift name>": the report's identity, written once
    shift: str
    day: str
    start: datetime
    end: datetime
    fired_at: datetime


class ShiftReportResult(_Frozen):
    shift_key: str
    written: bool  # False: it was already there (a retried or repeated run)
    location: str = ""


def clock_id(site: str) -> str:
    return f"report-clock:{site}"
