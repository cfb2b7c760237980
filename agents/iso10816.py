"""ISO 10816-3 evaluation zones for broadband vibration velocity (mm/s RMS, 10-1000 Hz).

ISO 10816-3 (now 20816-3) judges industrial machines above 15 kW by the RMS velocity measured on
the bearing housings, with limits that depend on the machine's size group and on whether its
foundation is rigid or flexible (flexible: the lowest natural frequency of machine + foundation
lies below the main excitation frequency).

Zones: A newly commissioned; B fine for unrestricted long-term operation; C not fit for long-term
continuous operation, plan maintenance; D severe enough to damage the machine.

A value exactly on a boundary belongs to the better zone ("up to 2.3 mm/s is zone A"), as the
standard's tables read.
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from agents.errors import InputError
from agents.models import Status


class MachineGroup(StrEnum):
    """Group 1: large machines, rated power above 300 kW. Group 2: medium, 15 kW to 300 kW."""

    GROUP1 = "group1"
    GROUP2 = "group2"


class Foundation(StrEnum):
    RIGID = "rigid"
    FLEXIBLE = "flexible"


class Zone(StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


class ZoneLimits(BaseModel):
    """Upper edges (mm/s RMS) of zones A, B and C; above ``c_d`` is zone D."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    a_b: float
    b_c: float
    c_d: float


# ISO 10816-3:2009, Table A.1 (group 1) and Table A.2 (group 2).
_LIMITS: dict[tuple[MachineGroup, Foundation], ZoneLimits] = {
    (MachineGroup.GROUP1, Foundation.RIGID): ZoneLimits(a_b=2.3, b_c=4.5, c_d=7.1),
    (MachineGroup.GROUP1, Foundation.FLEXIBLE): ZoneLimits(a_b=3.5, b_c=7.1, c_d=11.0),
    (MachineGroup.GROUP2, Foundation.RIGID): ZoneLimits(a_b=1.4, b_c=2.8, c_d=4.5),
    (MachineGroup.GROUP2, Foundation.FLEXIBLE): ZoneLimits(a_b=2.3, b_c=4.5, c_d=7.1),
}

_ZONE_STATUS: dict[Zone, Status] = {
    Zone.A: Status.GREEN,
    Zone.B: Status.GREEN,
    Zone.C: Status.AMBER,
    Zone.D: Status.RED,
}


def zone_limits(group: MachineGroup | str, foundation: Foundation | str) -> ZoneLimits:
    """Zone boundaries for a machine group and foundation (strings like "group2" are accepted)."""
    try:
        key = (MachineGroup(group), Foundation(foundation))
    except ValueError as exc:
        raise InputError(
            f"unknown ISO 10816-3 class ({group!r}, {foundation!r}); machine group is one of "
            f"{[g.value for g in MachineGroup]}, foundation one of {[f.value for f in Foundation]}"
        ) from exc
    return _LIMITS[key]


def classify(v_rms_mm_s: float, group: MachineGroup | str, foundation: Foundation | str) -> Zone:
    """ISO 10816-3 zone of an RMS velocity in mm/s (boundary values belong to the better zone)."""
    if not math.isfinite(v_rms_mm_s) or v_rms_mm_s < 0:
        raise InputError(
            f"vibration velocity must be a finite, non-negative mm/s RMS value, got {v_rms_mm_s}"
        )
    limits = zone_limits(group, foundation)
    if v_rms_mm_s <= limits.a_b:
        return Zone.A
    if v_rms_mm_s <= limits.b_c:
        return Zone.B
    if v_rms_mm_s <= limits.c_d:
        return Zone.C
    return Zone.D


def zone_status(zone: Zone | str) -> Status:
    """Agent status for a zone: A and B green, C amber, D red."""
    return _ZONE_STATUS[Zone(zone)]


__all__ = [
    "Foundation",
    "MachineGroup",
    "Zone",
    "ZoneLimits",
    "classify",
    "zone_limits",
    "zone_status",
]
