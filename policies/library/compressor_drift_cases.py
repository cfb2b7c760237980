"""Cases for compressor-drift: drift above 10 % is flagged for review by a person (``approve``: the
review waits in the owner's inbox) with a payback; small drift is not."""

from __future__ import annotations

from agents.models import AssetKind, Status
from policies.base import Case, PolicyContext
from policies.models import Autonomy
from policies.testing import T0, report

CTX = PolicyContext(now=T0, site="plant-a")


def comp(sp: float, base: float = 6.0, **extra: float) -> list:
    return [
        report(
            "compressor-1",
            kind=AssetKind.ENERGY,
            status=Status.AMBER,
            indicators={
                "specific_power": (sp, "kW/(m3/min)"),
                "specific_power_baseline": (base, "kW/(m3/min)"),
                **extra,
            },
        )
    ]


CASES = [
    Case(
        "14 % drift is flagged for review",
        comp(6.84),
        CTX,
        expect="fires",
        kinds=("flag_for_review",),
        autonomy=Autonomy.APPROVE,
    ),
    Case(
        "agent's own drift and payback figures are used",
        comp(7.5, specific_power_drift_pct=25.0, payback_years=2.5),
        CTX,
        expect="fires",
        kinds=("flag_for_review",),
        autonomy=Autonomy.APPROVE,
    ),
    Case("4 % drift is normal wear", comp(6.24), CTX, expect="silent"),
    Case(
        "no specific-power figures, nothing to judge",
        [report("compressor-1", kind=AssetKind.ENERGY, indicators={"power": (55.0, "kW")})],
        CTX,
        expect="silent",
    ),
]
