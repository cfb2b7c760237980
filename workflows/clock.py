"""The plant clock as the workflows see it: one clock per deployment, passed in their input.

A deployment has one clock, owned by the orchestrator (``orchestrator/clock.py``): wall time in
production (``autoops run``), the digital twin's simulated time in the demo, where one tick is a
plant hour played in a fraction of a second. Policies, workflows, partners, alarms and pages all
read that one clock, so a card's window, its deadline and the supplier's delivery date agree.

Workflows get it as ``PlantClock`` (a small pure model: kind, nominal scale, step) in their input:

- ``kind="wall"`` (the default, and what every input started before this change deserialises
  to): ``workflow.now()`` and plain Temporal timers, exactly the commands the workflows always
  issued, so in-flight histories replay unchanged (no ``workflow.patched`` is needed: the input,
  not the code version, chooses the path).
- ``kind="sim"``: "now" is asked of the orchestrator through the ``plant_now`` local activity
  (recorded in history as a marker: replay reads the recorded answer, never the live clock). A
  wait of D plant seconds becomes a wall timer of D / ``scale`` (at least one ``step_s`` of plant
  time, so a sub-tick wait does not spin), after which the plant clock is read again and the wait
  goes on until the plant deadline is reached. Late ticks (a loaded machine plays the day slower
  than nominal) only make the workflow look again; a demo stopped and resumed later re-anchors at
  the next read, since only plant time decides.

Why not Temporal's time-skipping: it skips to the next timer, not to the plant's next tick; the
plant advances with the twin, so the twin's clock must be the one asked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

PLANT_NOW_ACTIVITY = "plant_now"
#: Wall time between checks of a sim clock is never below this (a stalled plant is not polled hot).
_MIN_WALL = timedelta(milliseconds=50)


class PlantClock(BaseModel):
    """Which clock the plant runs on: ``wall`` (production) or ``sim`` (the demo's twin).

    ``scale``: nominal plant seconds per wall second (the demo at 0.2 s per simulated hour:
    18,000); ``step_s``: the plant seconds one tick advances (the sim clock moves in steps)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["wall", "sim"] = "wall"
    scale: float = Field(default=1.0, gt=0)
    step_s: float = Field(default=0.0, ge=0)

    @property
    def simulated(self) -> bool:
        return self.kind == "sim"

    @property
    def label(self) -> str:
        """How a timestamp names this clock: "plant time" (simulated) or "UTC" (wall)."""
        return "plant time" if self.simulated else "UTC"

    def wall_for(self, plant: timedelta) -> timedelta:
        """The wall timer that covers ``plant`` at the nominal scale (one step at least)."""
        if not self.simulated:
            return plant
        seconds = max(plant.total_seconds(), self.step_s) / self.scale
        return max(timedelta(seconds=seconds), _MIN_WALL)


WALL = PlantClock()


async def plant_now(clock: PlantClock) -> datetime:
    """The plant's time, inside a workflow (replay-safe in both kinds)."""
    if not clock.simulated:
        return workflow.now()
    return await workflow.execute_local_activity(
        PLANT_NOW_ACTIVITY,
        result_type=datetime,
        start_to_close_timeout=timedelta(seconds=10),
    )


async def wait_condition(
    clock: PlantClock, condition: Callable[[], bool], timeout: timedelta | None
) -> None:
    """``workflow.wait_condition`` with ``timeout`` in plant time: raises ``TimeoutError`` once
    the plant clock passed the deadline without ``condition`` holding."""
    if not clock.simulated or timeout is None:
        await workflow.wait_condition(condition, timeout=timeout)
        return
    deadline = await plant_now(clock) + timeout
    await wait_until(clock, condition, deadline, now=deadline - timeout)


async def wait_until(
    clock: PlantClock, condition: Callable[[], bool], deadline: datetime, *, now: datetime | None = None
) -> None:
    """Wait until ``condition`` holds (returns) or the plant clock reaches ``deadline`` (raises
    ``TimeoutError``). ``now``: the plant time already read, if any."""
    if not clock.simulated:
        left = max(deadline - workflow.now(), timedelta(milliseconds=1))
        await workflow.wait_condition(condition, timeout=left)
        return
    if now is None:
        now = await plant_now(clock)
    while True:
        if condition():
            return
        if now >= deadline:
            raise TimeoutError(f"plant deadline {deadline.isoformat()} reached")
        try:
            await workflow.wait_condition(condition, timeout=clock.wall_for(deadline - now))
            return
        except TimeoutError:
            now = await plant_now(clock)


async def sleep(clock: PlantClock, duration: timedelta) -> None:
    """Sleep ``duration`` of plant time."""
    if not clock.simulated:
        await workflow.sleep(duration)
        return
    try:
        await wait_condition(clock, lambda: False, duration)
    except TimeoutError:
        pass


__all__ = ["PLANT_NOW_ACTIVITY", "WALL", "PlantClock", "plant_now", "sleep", "wait_condition", "wait_until"]
