"""Cases for vibration-p1 (the for-duration itself is the engine's; see tests/policies)."""

from __future__ import annotations

from agents.models import FaultKind, Status
from policies.base import Case, PolicyContext
from policies.models import Autonomy
from policies.testing import T0, report

CTX = PolicyContext(now=T0, site="plant-a")
M = "mill-2"

CASES = [
    Case(
        "9.3 mm/s above 7.1 opens a P1 work order",
        [report(M, status=Status.RED, indicators={"velocity_rms": (9.3, "mm/s")})],
        CTX,
        expect="fires",
        kinds=("create_work_order",),
        autonomy=Autonomy.AUTO,
    ),
    Case(
        "exactly at the limit fires",
        [report(M, status=Status.RED, indicators={"velocity_rms": (7.1, "mm/s")})],
        CTX,
        expect="fires",
        kinds=("create_work_order",),
    ),
    Case(
        "a lower plant override of X fires earlier",
        [report(M, status=Status.AMBER, indicators={"velocity_rms": (5.0, "mm/s")})],
        CTX,
        expect="fires",
        kinds=("create_work_order",),
        params={"fire_at": 4.5, "clear_at": 3.5},
    ),
    Case(
        "4.2 mm/s is below X",
        [report(M, status=Status.AMBER, indicators={"velocity_rms": (4.2, "mm/s")})],
        CTX,
        expect="silent",
    ),
    Case(
        "a faulty vibration sensor is not evidence",
        [
            report(
                M,
                status=Status.GREEN,
                indicators={"velocity_rms": (45.0, "mm/s")},
                faults={"velocity_rms": FaultKind.OUT_OF_RANGE},
            )
        ],
        CTX,
        expect="silent",
    ),
    Case(
        "no vibration indicator, no action",
        [report(M, indicators={"temperature": (60.0, "degC")})],
        CTX,
        expect="silent",
    ),
]
