"""A pipelined loop (issue 16): the next step's readings go to the agents once this step's are
assessed, and are assessed while this step decides, acts and saves. It must act on the same
readings in the same order as a loop that steps one after the other, and live readings must stay
in the buffer until the agents have them."""

from __future__ import annotations

import asyncio
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from agents.base import Reading
from agents.errors import InputError
from agents.sources.buffer import ReadingBuffer
from agents.sources.hub import SourceHub
from orchestrator.config import PlantConfig, parse_config
from orchestrator.runtime import Orchestrator

SAMPLE_PLANT = Path(__file__).parents[2] / "orchestrator" / "plants" / "precision_components.toml"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _machines_only(namespace: str) -> PlantConfig:
    """The sample plant's machines and their twins (no stock or energy twins: their readings
    depend on orders the loop places, and this loop places none)."""
    data = tomllib.loads(SAMPLE_PLANT.read_text())
    machines = {m["id"] for m in data["machines"]}
    data.pop("inventory", None)
    data.pop("energy", None)
    data["simulation"]["twins"] = [t for t in data["simulation"]["twins"] if t["asset"] in machines]
    data["ray"]["namespace"] = namespace
    return parse_config(data)


async def _orchestrator(tmp_path: Path, name: str) -> Orchestrator:
    config = _machines_only(f"test-{uuid.uuid4().hex[:8]}")
    # No Temporal here: decisions are shadow ones (recorded, never started).
    orch = await Orchestrator.create(config, client=None, state_dir=tmp_path / name)  # type: ignore[arg-type]
    orch.engine.config = orch.engine.config.model_copy(update={"shadow": True})
    return orch


def _seen(result) -> tuple[list, list]:
    return (
        [(r.report_id, r.status, r.time) for r in result.reports],
        [(d.decision_id, d.outcome, d.policy_id, d.asset_id) for d in result.decisions],
    )


@pytest.mark.integration
async def test_a_pipelined_loop_acts_on_the_same_readings_as_one_step_after_the_other(
    ray_session: None, tmp_path: Path
) -> None:
    ticks = 120
    one_by_one = await _orchestrator(tmp_path, "one-by-one")
    try:
        want = [_seen(await one_by_one.step()) for _ in range(ticks)]
    finally:
        one_by_one.fleet.stop()
        one_by_one.close()

    piped = await _orchestrator(tmp_path, "pipelined")
    try:
        assert piped.sim is not None
        plant = [piped.sim.tick() for _ in range(ticks)]  # the same twins, the same readings
        handed = 0

        def upcoming() -> list[Reading]:
            nonlocal handed
            handed += 1
            return plant[handed - 1] if handed <= ticks else []

        got, ahead = [], []
        upcoming()  # tick 0 is this first step's own
        for k in range(ticks):
            piped.sim.ticks = k + 1  # the plant's clock at the tick this step acts on
            readings = plant[0] if k == 0 else None
            if k == 1:  # a step whose readings went ahead refuses to be handed others
                with pytest.raises(InputError, match="handed to the agents ahead"):
                    await piped.step(plant[1], upcoming=upcoming)
            if k < ticks - 1:
                result = await piped.step(readings, upcoming=upcoming)
            else:  # an orderly stop acts on what the agents have, handing nothing more
                result = await piped.finish_ahead()
                assert result is not None and await piped.finish_ahead() is None
            got.append(_seen(result))
            ahead.append(piped.ahead)
    finally:
        piped.fleet.stop()
        piped.close()

    assert got == want
    assert all(n > 0 for n in ahead[:-1]) and ahead[-1] == 0  # each next tick went ahead
    # Not vacuous: the machines reported, some went amber / red, and policies decided.
    statuses = {s for reports, _ in want for _, s, _ in reports}
    assert sum(len(r) for r, _ in want) >= ticks and len(statuses) >= 2
    assert sum(len(d) for _, d in want) > 0


def _live(buffer: ReadingBuffer, ingest) -> SimpleNamespace:
    """What of an ``Orchestrator`` the hand-over touches: live sources, no simulation."""

    async def refresh() -> None:
        return None

    loop = SimpleNamespace(
        pipeline=True,
        hub=SourceHub([], buffer, flush_every_s=None),
        sim=None,
        feed=None,
        backlog=False,
        fleet=SimpleNamespace(ingest=ingest),
        dispatch=SimpleNamespace(refresh=refresh),
        partition=SimpleNamespace(count=1),
        tick_s=1.0,
        _last_step_s=1.5,  # its last step took more than a tick: it is behind
        _ahead=None,
        _ahead_pool=None,
    )
    loop._ours = lambda readings: Orchestrator._ours(loop, readings)
    return loop


def test_live_readings_handed_ahead_stay_in_the_buffer_until_their_step_has_them(
    tmp_path: Path,
) -> None:
    buffer = ReadingBuffer(tmp_path / "sources.sqlite")
    assessed: list[list[str]] = []

    def ingest(readings: list[Reading]) -> list[str]:
        assessed.append([r.asset_id for r in readings])
        return [f"report of {r.asset_id}" for r in readings]

    loop = _live(buffer, ingest)
    readings = [
        Reading(asset_id=f"m-{i}", time=T0 + timedelta(seconds=i), values={"v": 1.0})
        for i in range(5)
    ]
    buffer.put(readings)

    async def scenario() -> list[str]:
        await Orchestrator._hand_ahead(loop, None)
        ahead = loop._ahead
        assert ahead is not None and ahead.readings == readings
        assert Orchestrator.pause_after_step(loop, 1.0, 0.1) == 0.0  # its step comes at once
        ahead.assessed.result(timeout=30)  # the agents have them...
        assert len(buffer) == 5  # ...and the buffer still holds them until their step
        loop._ahead = None
        return await Orchestrator._ingest_and_refresh(
            loop, ahead.readings, ahead.delivered, ahead.assessed
        )

    reports = asyncio.run(scenario())
    assert reports == [f"report of m-{i}" for i in range(5)]
    assert assessed == [[f"m-{i}" for i in range(5)]]  # assessed once, ahead
    assert len(buffer) == 0  # acknowledged with the step that acted on them

    # Handed ahead, then the loop stops (or loses its lease) before their step: the assessment
    # ends, nothing is acknowledged, and the next start takes them again (the agents answer a
    # re-delivery from their outbox).
    buffer.put(readings[:2])
    asyncio.run(Orchestrator._hand_ahead(loop, None))
    Orchestrator.drop_ahead(loop)
    assert loop._ahead is None and assessed[-1] == ["m-0", "m-1"] and len(buffer) == 2
    # Nothing waiting: nothing handed.
    buffer.ack(10**9)
    asyncio.run(Orchestrator._hand_ahead(loop, None))
    assert loop._ahead is None
    # A loop that keeps up (its last step well inside the tick) steps once a tick on what
    # arrived meanwhile: nothing is handed ahead, however much waits.
    buffer.put(readings)
    loop._last_step_s = 0.3
    asyncio.run(Orchestrator._hand_ahead(loop, None))
    assert loop._ahead is None and len(buffer) == 5
    # A failed step waits a whole tick even with readings ahead (it would fail again at once).
    loop._ahead = object()
    assert Orchestrator.pause_after_step(loop, 1.0, 0.1, failed=True) == 1.0
    buffer.close()
