"""Cases for bearing-wear: when it must schedule maintenance (and order the kit), when it must not."""

from __future__ import annotations

from agents.models import Status
from policies.base import Case, CatalogItem, PlannedWindow, PolicyContext
from policies.models import Autonomy
from policies.testing import T0, hours, report

ASSET = "press-1"
WINDOW = PlannedWindow(start=T0 + hours(40), end=T0 + hours(48), label="weekend stop")
BPFO = ("outer race defect (BPFO 87.2 Hz, 6.1x background)",)
CATALOG = {"BRG-KIT-6205": CatalogItem(sku="BRG-KIT-6205", supplier="skf-dist", unit_price=180.0)}
# A kit two days away (catalog lead time 48 h; with the 12 h margin: here by T0 + 60 h).
TWO_DAY_KIT = {"BRG-KIT-6205": CatalogItem(sku="BRG-KIT-6205", supplier="skf-dist", unit_price=180.0,
                                       lead_time_days=2.0)}
#: Before the kit can be here (WINDOW, T0 + 40 h) and after it (T0 + 64 h).
AFTER_KIT = PlannedWindow(start=T0 + hours(64), end=T0 + hours(72), label="night")


def ctx(
    stock: float = 2.0,
    windows: tuple[PlannedWindow, ...] = (WINDOW,),
    catalog: dict[str, CatalogItem] = CATALOG,
) -> PolicyContext:
    return PolicyContext(
        now=T0,
        site="plant-a",
        planned_windows=windows,
        stock={"BRG-KIT-6205": stock},
        catalog=catalog,
    )


CASES = [
    Case(
        "amber with BPFO and short RUL schedules maintenance in the planned window",
        [report(ASSET, status=Status.AMBER, rul_h=200, findings=BPFO)],
        ctx(),
        expect="fires",
        kinds=("schedule_maintenance",),
        forbidden_kinds=("order_parts",),
        autonomy=Autonomy.APPROVE,
    ),
    Case(
        "kit out of stock travels with the job (its workflow orders it): no second order",
        [report(ASSET, status=Status.AMBER, rul_h=200, findings=BPFO)],
        ctx(stock=0),
        expect="fires",
        kinds=("schedule_maintenance",),
        forbidden_kinds=("order_parts",),
    ),
    Case(
        "kit short: the window before the kit can be here is skipped, the one after it planned",
        [report(ASSET, status=Status.AMBER, rul_h=300, findings=BPFO)],
        ctx(stock=0, windows=(WINDOW, AFTER_KIT), catalog=TWO_DAY_KIT),
        expect="fires",
        kinds=("schedule_maintenance",),
        forbidden_kinds=("order_parts",),
        autonomy=Autonomy.APPROVE,
    ),
    Case(
        "kit short and no window after its lead time before the RUL: an unplanned stop",
        [report(ASSET, status=Status.AMBER, rul_h=300, findings=BPFO)],
        ctx(stock=0, windows=(WINDOW,), catalog=TWO_DAY_KIT),
        expect="fires",
        kinds=("schedule_maintenance",),
    ),
    Case(
        "no window before the RUL: still fires, as an unplanned stop",
        [report(ASSET, status=Status.RED, rul_h=30, findings=BPFO)],
        ctx(),
        expect="fires",
        kinds=("schedule_maintenance",),
    ),
    Case(
        "no waveform, but the rising velocity trend behind the RUL is the wear trend",
        [
            report(
                ASSET,
                status=Status.AMBER,
                rul_h=60,
                indicators={"de_velocity": (5.2, "mm/s"), "de_velocity.trend": (0.04, "mm/s/h")},
            )
        ],
        ctx(),
        expect="fires",
        kinds=("schedule_maintenance",),
    ),
    Case(
        "green machine stays silent",
        [report(ASSET, status=Status.GREEN, rul_h=200, findings=BPFO)],
        ctx(),
        expect="silent",
    ),
    Case(
        "amber but RUL far away stays silent",
        [report(ASSET, status=Status.AMBER, rul_h=5000, findings=BPFO)],
        ctx(),
        expect="silent",
    ),
    Case(
        "amber without bearing evidence stays silent (not a bearing problem)",
        [
            report(
                ASSET, status=Status.AMBER, rul_h=200, findings=("misalignment (2x running speed)",)
            )
        ],
        ctx(),
        expect="silent",
    ),
    Case(
        "amber without any RUL estimate stays silent",
        [report(ASSET, status=Status.AMBER, findings=BPFO)],
        ctx(),
        expect="silent",
    ),
]
