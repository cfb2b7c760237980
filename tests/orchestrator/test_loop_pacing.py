"""The live loop's pace: it steps every tick, at once while readings wait beyond one step's take,
and one step takes everything that arrived meanwhile (issue 16: a 10,000-asset plant at 1 Hz
outran a loop that slept a whole tick after each step and took 5,000 readings at a time)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.base import Reading
from agents.sources.buffer import ReadingBuffer
from agents.sources.hub import SourceHub
from orchestrator import runtime
from orchestrator.roles import PartitionedLoop
from orchestrator.runtime import Orchestrator

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _loop(hub: object, sim: object = None, backlog: bool = False) -> SimpleNamespace:
    return SimpleNamespace(hub=hub, sim=sim, feed=None, backlog=backlog, _ahead=None)


def test_a_live_loop_waits_only_the_rest_of_its_tick_and_not_at_all_with_a_backlog() -> None:
    live = _loop(hub=object())
    assert Orchestrator.pause_after_step(live, 1.0, 0.25) == pytest.approx(0.75)
    assert Orchestrator.pause_after_step(live, 1.0, 3.0) == 0.0  # behind: the next step at once
    behind = _loop(hub=object(), backlog=True)
    assert Orchestrator.pause_after_step(behind, 1.0, 0.1) == 0.0


def test_a_simulated_plant_keeps_its_pace_of_one_tick_per_step() -> None:
    # Each step makes the twin's next tick: the pause is what sets the demo's speed.
    assert Orchestrator.pause_after_step(_loop(hub=None, sim=object()), 1.0, 0.25) == 1.0
    assert Orchestrator.pause_after_step(_loop(hub=object(), sim=object()), 2.0, 0.5) == 2.0


def test_a_failed_step_waits_a_whole_tick_even_behind() -> None:
    # Its readings were not acknowledged: stepping again at once would fail again at once.
    behind = _loop(hub=object(), backlog=True)
    assert Orchestrator.pause_after_step(behind, 1.0, 0.1, failed=True) == 1.0


def test_partitions_pause_as_little_as_the_one_most_behind_that_stepped() -> None:
    running = {
        0: SimpleNamespace(pause_after_step=lambda t, e: 0.5),
        1: SimpleNamespace(pause_after_step=lambda t, e: 0.0),
    }
    loop = SimpleNamespace(running=running, stepped={0, 1})
    assert PartitionedLoop.pause_after_step(loop, 1.0, 0.5) == 0.0
    # Partition 1 is behind but its step failed (or its lease is gone): it does not set the pace.
    loop.stepped = {0}
    assert PartitionedLoop.pause_after_step(loop, 1.0, 0.5) == 0.5
    loop.stepped = set()
    assert PartitionedLoop.pause_after_step(loop, 1.0, 0.5) == 1.0


def test_one_step_takes_every_reading_that_arrived_and_says_when_more_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = ReadingBuffer(tmp_path / "sources.sqlite")
    hub = SourceHub([], buffer, flush_every_s=None)
    # 12,000 readings: what 3 s of a 4,000-asset plant leave while a step runs.
    readings = [
        Reading(asset_id=f"m-{i % 4000}", time=T0 + timedelta(seconds=i // 4000), values={"v": 1.0})
        for i in range(12_000)
    ]
    buffer.put(readings)
    loop = _loop(hub=hub)
    delivered, taken = asyncio.run(Orchestrator._sense(loop, None))
    assert len(taken) == 12_000 and taken[0] == readings[0] and taken[-1] == readings[-1]
    assert loop.backlog is False
    hub.done(delivered)
    # A take capped below what waits: the loop knows it is behind and steps again at once.
    monkeypatch.setattr(runtime, "STEP_READINGS_MAX", 5_000)
    buffer.put(readings[:6_000])
    _, taken = asyncio.run(Orchestrator._sense(loop, None))
    assert len(taken) == 5_000 and loop.backlog is True
    buffer.close()


def test_readings_the_agents_took_are_acknowledged_even_when_the_refresh_fails() -> None:
    """The refresh of open workflows runs while the agents assess; its failure fails the tick
    but the agents have the readings: they are not delivered again."""
    acked: list[int] = []
    assessed: list[int] = []

    async def refresh() -> None:
        raise RuntimeError("workflow store unavailable")

    def ingest(readings: list[Reading]) -> list[str]:
        assessed.append(len(readings))
        return ["report"]

    tick = SimpleNamespace(
        fleet=SimpleNamespace(ingest=ingest),
        dispatch=SimpleNamespace(refresh=refresh),
        hub=SimpleNamespace(done=acked.append),
    )
    readings = [Reading(asset_id="m-1", time=T0, values={"v": 1.0})]
    with pytest.raises(RuntimeError, match="workflow store"):
        asyncio.run(Orchestrator._ingest_and_refresh(tick, readings, 7))
    assert assessed == [1] and acked == [7]


def test_the_plant_file_sets_how_agents_publish_and_save() -> None:
    """A large 1-Hz plant's cadence comes from its plant file, as ``autoops run`` reads it (the
    loop benchmark sets it there too): reports on change with a heartbeat, each agent saved
    once every ``checkpoint_every_s`` in turns. Unset: a report per reading, a save per batch."""
    import tomllib

    from orchestrator.assembly import actor_options
    from orchestrator.config import ConfigError, parse_config

    plant = Path(__file__).parents[2] / "orchestrator" / "plants" / "precision_components.toml"
    data = tomllib.loads(plant.read_text())
    default = actor_options(parse_config(data))
    assert (default.publish.on_change, default.checkpoint.every_readings) == (False, 1)
    assert default.checkpoint.every_seconds is None

    data["ray"] |= {"publish": "on_change", "heartbeat_s": 30, "checkpoint_every_s": 60}
    large = actor_options(parse_config(data))
    assert (large.publish.on_change, large.publish.heartbeat_s) == (True, 30.0)
    assert (large.checkpoint.every_readings, large.checkpoint.every_seconds) == (None, 60.0)

    data["ray"]["publish"] = "sometimes"
    with pytest.raises(ConfigError, match="publish"):
        parse_config(data)
