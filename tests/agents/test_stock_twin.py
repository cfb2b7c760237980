from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.inventory import InventoryAgent
from agents.simulator.scenarios import run_scenario
from agents.simulator.stock_twin import StockTwin, shortage_item, shortage_twin

AUTOOPS = Path(sys.executable).parent / "autoops"


def test_same_seed_same_run_other_seed_other_run() -> None:
    def counts(seed: int) -> list[float]:
        return [r.values["stock"] for r in shortage_twin(seed).readings(48)]

    assert counts(7) == counts(7)
    assert counts(7) != counts(8)


def test_night_shift_consumes_less_than_day_shifts() -> None:
    twin = StockTwin(seed=3, item=shortage_item(), initial_stock=1e6)
    readings = list(twin.readings(24 * 7))
    used = {"day": 0.0, "night": 0.0}
    for before, after in zip(readings, readings[1:], strict=False):
        hour = before.time.hour
        used["day" if 6 <= hour < 22 else "night"] += before.values["stock"] - after.values["stock"]
    # 16 day hours at 10/h against 8 night hours at 3/h
    assert used["day"] / 16 > 2.5 * used["night"] / 8


def test_orders_arrive_after_the_lead_time_and_receipts_add_stock() -> None:
    twin = StockTwin(seed=1, item=shortage_item(), initial_stock=1000, demand_per_h={"A": 0.0})
    stream = twin.readings()
    first = next(stream)
    assert first.values == {"stock": 1000.0, "on_order": 0.0}
    twin.order(400)
    for _ in range(71):
        reading = next(stream)
    assert reading.values == {"stock": 1000.0, "on_order": 400.0}
    assert next(stream).values == {"stock": 1400.0, "on_order": 0.0}  # after 72 h
    twin.order(300)
    twin.receive(300)  # a workflow books the goods receipt early
    assert next(stream).values == {"stock": 1700.0, "on_order": 0.0}


def test_parts_issued_to_a_job_leave_the_stock_at_the_next_step() -> None:
    twin = StockTwin(seed=1, item=shortage_item(), initial_stock=5, demand_per_h={})
    stream = twin.readings()
    assert next(stream).values["stock"] == 5.0
    twin.receive(1)
    twin.issue(2)  # a maintenance job used two, one of them just received
    assert next(stream).values["stock"] == 4.0
    twin.issue(10)  # never below zero
    assert next(stream).values["stock"] == 0.0


def test_receipt_through_the_stream_is_not_read_as_consumption() -> None:
    twin = StockTwin(seed=2, item=shortage_item(), initial_stock=3000)
    agent = InventoryAgent(twin.item)
    stream = twin.readings()
    for _ in range(48):
        before = agent.assess(next(stream))
    twin.order(500)
    agent.assess(next(stream))
    twin.receive(500)
    after = agent.assess(next(stream))
    rate_before = before.indicator("consumption_rate").value
    rate_after = after.indicator("consumption_rate").value
    assert rate_after == pytest.approx(rate_before, rel=0.3)  # not +500 pcs/h of "consumption"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stock_shortage_warns_before_stock_out(seed: int) -> None:
    summary = run_scenario("stock-shortage", seed=seed)
    assert summary["first_amber_at_h"] > summary["surge_at_h"]  # quiet before line B surges
    assert summary["first_amber_at_h"] < summary["first_red_at_h"] < summary["stock_out_at_h"]
    # the warning leaves time to order: more than the supplier's lead time
    assert summary["warning_lead_h"] > summary["lead_time_h"]
    assert summary["suggested_order_qty"] >= shortage_item().min_order_qty
    # ordering what the agent suggests, whenever it is amber, avoids the stock-out
    assert summary["stock_out_with_orders_at_h"] is None and summary["min_stock_with_orders"] > 0


def test_scenario_through_the_cli() -> None:
    out = subprocess.run(
        [str(AUTOOPS), "simulate", "--scenario", "stock-shortage", "--seed", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    summary = json.loads(out.stdout)
    assert summary["scenario"] == "stock-shortage" and summary["seed"] == 1
    assert summary["first_amber_at_h"] < summary["stock_out_at_h"]
    assert summary == json.loads(json.dumps(run_scenario("stock-shortage", seed=1), default=str))
