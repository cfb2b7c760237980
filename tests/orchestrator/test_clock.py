"""The deployment's one clock (orchestrator/clock.py): wall time for a real plant, the twin's
time for a simulated one, and wall-stamped records (Temporal's) read in plant time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.clock import WALL_CLOCK, DeploymentClock, plant_clock
from orchestrator.config import parse_config

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def test_a_real_plant_runs_on_wall_time_and_a_simulated_one_on_plant_time(tmp_path: Path) -> None:
    real = parse_config({"site": "s", "state_dir": str(tmp_path / "a")})
    assert plant_clock(real, 1.0) is WALL_CLOCK and WALL_CLOCK.label == "UTC"
    before = datetime.now(UTC)
    assert before <= WALL_CLOCK.now() <= datetime.now(UTC)

    sim = parse_config({"site": "s", "state_dir": str(tmp_path / "b"), "simulation": {"step_h": 1.0}})
    clock = plant_clock(sim, 0.2)
    assert clock.label == "plant time" and clock.model.simulated
    assert clock.model.scale == 18_000 and clock.model.step_s == 3600  # 0.2 s of wall per plant hour
    # Before the loop exists the clock reads where the run starts (the hour, not the wall second).
    assert clock.now().minute == 0 and clock.now().second == 0
    with pytest.raises(ValueError, match="tick_s > 0"):
        DeploymentClock.simulated(step_h=1.0, tick_s=0.0)


def test_wall_stamped_records_read_in_plant_time_also_after_a_restart(tmp_path: Path) -> None:
    plant = {"now": T0}
    clock = DeploymentClock.simulated(step_h=1.0, tick_s=0.2, start=T0)
    clock.attach(lambda: plant["now"])
    clock.keep_marks(tmp_path / "plant-clock.jsonl")
    walls = []
    for hour in range(3):
        plant["now"] = T0 + timedelta(hours=hour)
        clock.mark()
        clock.mark()  # a second mark in the same tick changes nothing
        walls.append(datetime.now(UTC))
        time.sleep(0.01)
    assert clock.plant_at(walls[1]) == T0 + timedelta(hours=1)
    assert clock.plant_at(walls[2] + timedelta(days=1)) == T0 + timedelta(hours=2)
    assert clock.plant_at(None) is None
    assert len((tmp_path / "plant-clock.jsonl").read_text().splitlines()) == 3

    resumed = DeploymentClock.simulated(step_h=1.0, tick_s=0.2, start=T0 + timedelta(hours=2))
    resumed.keep_marks(tmp_path / "plant-clock.jsonl")
    assert resumed.plant_at(walls[0]) == T0  # the earlier run's workflows keep their plant times
    assert WALL_CLOCK.plant_at(walls[0]) == walls[0]  # a wall clock has nothing to translate


async def test_a_plant_sleep_waits_for_plant_time_not_wall_time() -> None:
    plant = {"now": T0}
    clock = DeploymentClock.simulated(step_h=1.0, tick_s=0.01, start=T0)
    clock.attach(lambda: plant["now"])
    nap = asyncio.create_task(clock.sleep(2 * 3600))
    await asyncio.sleep(0.3)  # at nominal speed 30 plant hours; the plant stood still
    assert not nap.done()
    plant["now"] = T0 + timedelta(hours=1)
    await asyncio.sleep(0.1)
    assert not nap.done()
    plant["now"] = T0 + timedelta(hours=2)
    await asyncio.wait_for(nap, timeout=30)
