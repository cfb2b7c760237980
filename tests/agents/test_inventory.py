from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from scipy.stats import norm

from agents.base import Agent, Reading
from agents.errors import ConfigError
from agents.inventory import (
    InventoryAgent,
    InventoryItem,
    economic_order_quantity,
    purchase_evidence,
    safety_stock,
    stock_status,
)
from agents.models import AssetKind, FaultKind, Status

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def item(**overrides: object) -> InventoryItem:
    fields: dict[str, object] = dict(
        sku="BRG-6205",
        supplier="skf-direct",
        lead_time_h=48.0,
        review_period_h=24.0,
        unit_price=4.0,
        order_cost=50.0,
        min_order_qty=10,
        service_level=0.95,
        smoothing_h=24.0,
    )
    fields.update(overrides)
    return InventoryItem.model_validate(fields)


def feed(
    agent: InventoryAgent, stocks: list[float], *, start: int = 0, on_order: float | None = None
):
    report = None
    for i, stock in enumerate(stocks):
        values = {"stock": stock} if on_order is None else {"stock": stock, "on_order": on_order}
        report = agent.assess(Reading(agent.asset_id, T0 + timedelta(hours=start + i), values))
    assert report is not None
    return report


def value(report, name: str) -> float:
    indicator = report.indicator(name)
    assert indicator is not None and indicator.value is not None, name
    return indicator.value


def test_formulas_match_hand_computation() -> None:
    # z(0.95) = 1.6449; sigma 2/h over 48 h: 1.6449 * 2 * sqrt(48) = 22.79
    assert safety_stock(1.6449, 2.0, 48.0) == pytest.approx(22.79, abs=0.01)
    # D = 10/h * 8760 h, K = 50, h = 25 % of 4.00 = 1.00 per unit-year: sqrt(2*87600*50/1) = 2959.7
    assert economic_order_quantity(87600, 50, 1.0) == pytest.approx(2959.7, abs=0.1)
    assert economic_order_quantity(0, 50, 1.0) == 0.0
    assert item().z == pytest.approx(1.6449, abs=1e-4)
    assert item(service_level=0.99).z == pytest.approx(norm.ppf(0.99), rel=1e-12)
    assert InventoryItem(sku="x", lead_time_days=3).lead_time_h == 72.0


def test_lead_time_given_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="lead_time_h or lead_time_days"):
        InventoryItem(sku="x", lead_time_h=10, lead_time_days=1)


def test_constant_consumption_gives_textbook_figures() -> None:
    agent = InventoryAgent(item())
    assert isinstance(agent, Agent)
    report = feed(agent, [1000 - 10 * i for i in range(30)])  # 10 pcs/h, no variability
    assert report.asset_kind is AssetKind.INVENTORY and report.report_id == "BRG-6205:29"
    assert value(report, "consumption_rate") == pytest.approx(10.0)
    assert value(report, "consumption_std") == pytest.approx(0.0, abs=1e-9)
    assert value(report, "safety_stock") == pytest.approx(0.0, abs=1e-6)
    assert value(report, "reorder_point") == pytest.approx(480.0)  # 10/h * 48 h
    assert value(report, "stockout_in_h") == pytest.approx(71.0)  # 710 on hand / 10 per h
    assert value(report, "eoq") == pytest.approx(2959.7, abs=0.1)
    assert report.status is Status.AMBER  # 71 h is inside 48 + 24 h


def test_variable_consumption_feeds_safety_stock() -> None:
    agent = InventoryAgent(item())
    stocks, stock = [], 5000.0
    for i in range(200):
        stocks.append(stock)
        stock -= 8 if i % 2 else 12
    report = feed(agent, stocks)
    rate, sigma = value(report, "consumption_rate"), value(report, "consumption_std")
    assert rate == pytest.approx(10.0, abs=0.3)
    assert sigma == pytest.approx(2.0, abs=0.3)  # alternating 8 / 12: std 2 per hour
    assert value(report, "safety_stock") == pytest.approx(1.6449 * sigma * math.sqrt(48), rel=1e-3)
    assert value(report, "reorder_point") == pytest.approx(
        rate * 48 + value(report, "safety_stock")
    )


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (47.9, Status.RED),
        (48.0, Status.RED),
        (48.1, Status.AMBER),
        (72.0, Status.AMBER),
        (72.1, Status.GREEN),
        (None, Status.GREEN),
    ],
)
def test_status_boundaries(hours: float | None, expected: Status) -> None:
    assert stock_status(hours, 48.0, 24.0) is expected


def test_status_from_readings_at_the_boundary() -> None:
    agent = InventoryAgent(item())
    # 10/h; the last count leaves exactly 72 h (lead 48 + review 24) of stock: amber, not green.
    assert feed(agent, [1000 - 10 * i for i in range(29)]).status is Status.AMBER
    agent = InventoryAgent(item())
    assert feed(agent, [1000 - 10 * i for i in range(28)]).status is Status.GREEN  # 730 -> 73 h
    agent = InventoryAgent(item())
    report = feed(agent, [1000 - 10 * i for i in range(53)])  # 480 left -> 48 h, inside lead time
    assert report.status is Status.RED
    assert any("inside the lead time" in f for f in report.findings)


def test_delivery_is_not_negative_consumption() -> None:
    agent = InventoryAgent(item())
    before = feed(agent, [1000 - 10 * i for i in range(20)])
    # +500 pcs delivered (not announced in on_order), then 10/h again
    after = feed(agent, [810 + 500 - 10 * i for i in range(1, 5)], start=20)
    assert value(after, "consumption_rate") == pytest.approx(value(before, "consumption_rate"))
    assert value(after, "consumption_std") == pytest.approx(0.0, abs=1e-9)


def test_announced_delivery_keeps_the_consumption_of_that_hour() -> None:
    agent = InventoryAgent(item())
    feed(agent, [1000 - 10 * i for i in range(20)], on_order=500)
    # the 500 on order arrived during the hour and 10 were used: stock 810 -> 1300, on_order 0
    report = feed(agent, [1300, 1290, 1280], start=20, on_order=0)
    assert value(report, "consumption_rate") == pytest.approx(10.0)
    assert value(report, "consumption_std") == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -5.0])
def test_bad_stock_value_is_a_sensor_fault_and_the_agent_keeps_going(bad: float) -> None:
    agent = InventoryAgent(item())
    feed(agent, [1000 - 10 * i for i in range(10)])
    report = agent.assess(Reading("BRG-6205", T0 + timedelta(hours=10), {"stock": bad}))
    assert [f.sensor for f in report.sensor_faults] == ["stock"]
    assert report.sensor_faults[0].kind in (FaultKind.NAN, FaultKind.OUT_OF_RANGE)
    assert value(report, "stock") == pytest.approx(900.0)  # run down from the last good count
    assert report.status is Status.GREEN
    good = agent.assess(Reading("BRG-6205", T0 + timedelta(hours=11), {"stock": 890.0}))
    assert good.sensor_faults == () and value(good, "consumption_rate") == pytest.approx(10.0)


def test_first_reading_nan_gives_unknown_not_a_crash() -> None:
    report = InventoryAgent(item()).assess(Reading("BRG-6205", T0, {"stock": math.nan}))
    assert report.status is Status.UNKNOWN and report.sensor_faults[0].kind is FaultKind.NAN


def test_out_of_order_reading_does_not_rewind_stock() -> None:
    agent = InventoryAgent(item())
    feed(agent, [1000 - 10 * i for i in range(10)])
    report = agent.assess(Reading("BRG-6205", T0 + timedelta(hours=2), {"stock": 980.0}))
    assert report.sensor_faults[0].kind is FaultKind.JUMP
    assert value(report, "stock") == pytest.approx(910.0)


def test_snapshot_restore_gives_identical_next_report() -> None:
    agent = InventoryAgent(item())
    stocks = [1000 - 10 * i - (3 if i % 3 else 0) for i in range(40)]
    feed(agent, stocks)
    snapshot = json.loads(json.dumps(agent.snapshot()))
    twin = InventoryAgent(item())
    twin.restore(snapshot)
    nxt = Reading("BRG-6205", T0 + timedelta(hours=40), {"stock": 585.0})
    assert twin.assess(nxt) == agent.assess(nxt)
    with pytest.raises(ConfigError, match="same SKU"):
        InventoryAgent(item(sku="OTHER")).restore(snapshot)


def test_purchase_evidence_carries_what_a_policy_needs() -> None:
    agent = InventoryAgent(item())
    report = feed(agent, [1000 - 10 * i for i in range(40)])  # 610 left, 61 h: amber
    evidence = purchase_evidence(report)
    assert evidence["status"] == "amber"
    assert evidence["lead_time_h"] == 48.0 and evidence["unit_price"] == 4.0
    assert evidence["supplier"] == "skf-direct" and evidence["currency"] == "EUR"
    assert evidence["stockout_in_h"] == pytest.approx(61.0)
    assert evidence["stockout_at"] == (report.time + timedelta(hours=61)).isoformat()
    # order up to 10/h * (48 + 24) h = 720 from a position of 610 -> 110, but at least the EOQ
    assert evidence["suggested_order_qty"] == math.ceil(2959.7)
    # once that is on order the need is covered: nothing more to suggest
    covered = feed(agent, [600], start=40, on_order=2960)
    assert purchase_evidence(covered)["suggested_order_qty"] == 0.0
