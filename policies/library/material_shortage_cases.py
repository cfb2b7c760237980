"""Cases for material-shortage: stock-out inside the lead time orders, with cost tiers."""

from __future__ import annotations

from agents.models import AssetKind, Status
from policies.base import Case, PolicyContext
from policies.models import Autonomy
from policies.testing import T0, report

CTX = PolicyContext(now=T0, site="plant-a")


def stock(stockout_h: float, price: float, qty: float, lead_h: float = 120.0) -> list:
    status = Status.RED if stockout_h <= lead_h else Status.GREEN
    return [
        report(
            "SKU-STEEL-42",
            kind=AssetKind.INVENTORY,
            status=status,
            indicators={
                "stock": 40.0,
                "stockout_in_h": stockout_h,
                "lead_time_h": lead_h,
                "review_period_h": 24.0,
                "reorder_point": 90.0,
                "eoq": 60.0,
                "suggested_order_qty": qty,
                "unit_price": (price, "EUR"),
                "consumption_rate": 0.5,
            },
        )
    ]


CASES = [
    Case(
        "cheap shortage is ordered automatically",
        stock(80, 4.0, 60),
        CTX,
        expect="fires",
        kinds=("order_parts",),
        autonomy=Autonomy.AUTO,
    ),
    Case(
        "above the auto limit a buyer must approve",
        stock(80, 40.0, 60),
        CTX,
        expect="fires",
        kinds=("order_parts",),
        autonomy=Autonomy.APPROVE,
    ),
    Case(
        "no suggestion from the agent: quantity from EOQ / reorder point",
        stock(80, 4.0, 0),
        CTX,
        expect="fires",
        kinds=("order_parts",),
    ),
    Case(
        "stock-out after the lead time is not yet a shortage",
        stock(300, 4.0, 0),
        CTX,
        expect="silent",
    ),
    Case(
        "no consumption (no stock-out projected) stays silent",
        [
            report(
                "SKU-STEEL-42",
                kind=AssetKind.INVENTORY,
                indicators={"stock": 40.0, "lead_time_h": 120.0},
            )
        ],
        CTX,
        expect="silent",
    ),
]
