from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agents.errors import ConfigError
from agents.inventory_config import InventoryItem
from agents.simulator.plant import PlantSim, SimulationSpec

ITEM = InventoryItem(sku="BAR", lead_time_h=72.0, unit_price=10.0)
SPEC = SimulationSpec.model_validate(
    {
        "twins": [
            {"asset": "mill-1", "twin": "spindle", "seed": 3, "onset_h": 5.0, "life_h": 40.0},
            {"asset": "furnace-1", "twin": "furnace", "seed": 4},
            {
                "asset": "BAR",
                "twin": "stock",
                "seed": 5,
                "initial_stock": 100.0,
                "demand_per_h": {"B": 2.0},
            },
            {"asset": "plant-energy", "twin": "energy", "seed": 6},
        ]
    }
)
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def run(sim: PlantSim, ticks: int) -> list[tuple[str, datetime, dict[str, float]]]:
    out = []
    for _ in range(ticks):
        out += [(r.asset_id, r.time, dict(r.values)) for r in sim.tick()]
    return out


def test_every_twin_reports_each_tick_in_time_order() -> None:
    sim = PlantSim(SPEC, {"BAR": ITEM}, start=START)
    readings = run(sim, 3)
    assert {a for a, _, _ in readings} == {"mill-1", "furnace-1", "BAR", "plant-energy"}
    assert all(t <= sim.now for _, t, _ in readings)
    # the spindle reports every half hour: 0, 0.5 ... 3.0 h
    assert sum(1 for a, _, _ in readings if a == "mill-1") == 7


def test_wear_runs_to_failure_but_a_repair_restores_the_spindle() -> None:
    worn = PlantSim(SPEC, {"BAR": ITEM}, start=START)
    run(worn, 60)
    assert worn.failed() == ["mill-1"]  # 45 h to failure: it stopped reporting

    repaired = PlantSim(SPEC, {"BAR": ITEM}, start=START)
    run(repaired, 30)
    repaired.repair("mill-1")
    after = [v["spindle_vel"] for a, _, v in run(repaired, 30) if a == "mill-1"]
    assert repaired.failed() == [] and max(after) < 2.0


def test_receipt_and_replay_reproduce_the_run() -> None:
    first = PlantSim(SPEC, {"BAR": ITEM}, start=START)
    run(first, 5)
    first.receive("BAR", 50)
    tail = run(first, 5)
    without = PlantSim(SPEC, {"BAR": ITEM}, start=START)
    run(without, 5)
    base = run(without, 5)

    def stock(rows):
        return [v["stock"] for a, _, v in rows if a == "BAR"]

    assert stock(tail)[-1] - stock(base)[-1] == 50  # booked once, demand unchanged

    again = PlantSim(SPEC, {"BAR": ITEM}, start=START)
    again.replay(5, first.journal)
    assert run(again, 5) == tail
    with pytest.raises(ConfigError, match="no twin for asset 'nope'"):
        again.receive("nope", 1)


def test_fixing_instruments_ends_the_fault_but_not_the_wear() -> None:
    spec = SimulationSpec.model_validate(
        {
            "twins": [
                {
                    "asset": "lathe-1",
                    "twin": "spindle",
                    "seed": 7,
                    "onset_h": 20.0,
                    "life_h": 60.0,
                    "faults": [{"sensor": "bearing_temp", "kind": "flatline", "start_h": 2.0}],
                }
            ]
        }
    )
    sim = PlantSim(spec, {}, start=START)
    flat = [v["bearing_temp"] for _, _, v in run(sim, 10)][-6:]
    assert max(flat) - min(flat) < 0.01  # the dead sensor
    sim.fix_instruments("lathe-1")
    temps = [v["bearing_temp"] for _, _, v in run(sim, 10)]
    assert max(temps) - min(temps) > 0.1  # alive again
    run(sim, 80)
    assert sim.failed() == ["lathe-1"]  # the bearing still wore out at 80 h
