"""The deployment's one clock: wall time in production, the twin's simulated time in the demo.

Everything that tells or waits for time asks this one object, so a page never mixes two clocks:

- the loop and the policies (``Orchestrator.now``: the simulation's time, or wall time);
- the workflows, through ``PlantClock`` in their input (``workflows/clock.py``: on a sim clock a
  workflow reads "now" through the ``plant_now`` local activity, served here by ``now``, and turns
  plant-time waits into wall timers at the nominal ``scale``, re-reading the clock after each);
- the embedded reference partners (``clock`` is their ``Clock``: dates they stamp are plant time,
  and ``sleep`` waits plant seconds, so a 72 h lead time is 72 plant hours, not 3 s);
- the alarms and the pages (``label`` says which clock a timestamp is in).

Some records carry only a wall time (Temporal's own event times, a run's start). ``mark`` keeps,
at each tick, which plant time the wall clock stood at (``plant-clock.jsonl`` in the state
directory, so a resumed demo still reads its earlier runs), and ``plant_at`` turns a wall time
into the plant time of the tick it fell in: pages show those in the one clock too.

On a wall clock ``now`` is ``datetime.now(UTC)`` and ``sleep`` is ``asyncio.sleep``: ``autoops run``
behaves as it always did. The sim clock's source is attached once the loop exists (the partners
start before it); until then it reads the time the run resumes at.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workflows.clock import PlantClock


class DeploymentClock:
    """Callable (``clock()`` is the plant's now); thread-safe to read from the partners' threads."""

    def __init__(self, kind: str = "wall", *, scale: float = 1.0, step_s: float = 0.0,
                 start: datetime | None = None) -> None:
        self.model = PlantClock(kind=kind, scale=scale, step_s=step_s)  # type: ignore[arg-type]
        self._source: Callable[[], datetime] | None = None
        self._start = start
        self._lock = threading.Lock()
        self._marks: list[tuple[datetime, datetime]] = []  # (wall, plant) at each tick, in order
        self._marks_path: Path | None = None

    @classmethod
    def wall(cls) -> DeploymentClock:
        return cls("wall")

    @classmethod
    def simulated(cls, *, step_h: float, tick_s: float, start: datetime | None = None) -> DeploymentClock:
        """The demo's clock: one tick of ``tick_s`` wall seconds plays ``step_h`` plant hours."""
        if tick_s <= 0 or step_h <= 0:
            raise ValueError(f"a simulated clock needs tick_s > 0 and step_h > 0 (got {tick_s}, {step_h})")
        return cls("sim", scale=step_h * 3600.0 / tick_s, step_s=step_h * 3600.0, start=start)

    @property
    def simulated_time(self) -> bool:
        return self.model.simulated

    @property
    def label(self) -> str:
        return self.model.label

    def attach(self, source: Callable[[], datetime]) -> None:
        """Read the plant's time from ``source`` from now on (the loop's simulation)."""
        with self._lock:
            self._source = source

    def now(self) -> datetime:
        if not self.simulated_time:
            return datetime.now(UTC)
        with self._lock:
            source = self._source
        if source is not None:
            return source()
        if self._start is None:
            raise RuntimeError("the simulated clock is read before the simulation exists")
        return self._start

    __call__ = now

    # ---- wall -> plant (records that carry only a wall time) -------------------------------------
    def keep_marks(self, path: Path) -> None:
        """Load the marks of earlier runs from ``path`` and append new ones there."""
        self._marks_path = path
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            try:
                wall, plant = json.loads(line)
                self._marks.append((datetime.fromisoformat(wall), datetime.fromisoformat(plant)))
            except (ValueError, TypeError):
                continue  # a line cut by a kill: the next tick writes a whole one
        self._marks.sort()

    def mark(self) -> None:
        """Note the plant time the wall clock stands at (once per tick, by the loop)."""
        if not self.simulated_time:
            return
        wall, plant = datetime.now(UTC), self.now()
        if self._marks and self._marks[-1][1] == plant:
            return
        self._marks.append((wall, plant))
        if self._marks_path is not None:
            with self._marks_path.open("a") as fh:
                fh.write(json.dumps([wall.isoformat(), plant.isoformat()]) + "\n")

    def plant_at(self, wall: datetime | None) -> datetime | None:
        """The plant time at wall time ``wall`` (itself on a wall clock): the tick it fell in."""
        if wall is None or not self.simulated_time:
            return wall
        marks = self._marks
        i = bisect.bisect_right(marks, wall, key=lambda m: m[0])
        if i == 0:
            return marks[0][1] if marks else self.now()
        return marks[i - 1][1]

    async def sleep(self, plant_s: float) -> None:
        """Wait ``plant_s`` seconds of plant time (on any event loop)."""
        if not self.simulated_time:
            await asyncio.sleep(plant_s)
            return
        until = self.now().timestamp() + plant_s
        while self.now().timestamp() < until:
            left = until - self.now().timestamp()
            await asyncio.sleep(max(min(left, self.model.step_s) / self.model.scale, 0.02))

    async def sleep_until(self, when: datetime) -> None:
        """Wait until the plant's time reaches ``when``."""
        left = (when - self.now()).total_seconds()
        if left > 0:
            await self.sleep(left)


WALL_CLOCK = DeploymentClock.wall()


def plant_clock(config: Any, tick_s: float) -> DeploymentClock:
    """The clock of a plant run with ``tick_s`` wall seconds per tick: simulated time for a plant
    file with a ``[simulation]`` (the demo), else wall time (a real plant)."""
    if not config.simulation:
        return WALL_CLOCK
    from orchestrator.progress import DEFAULT_PARTITION
    from orchestrator.state import open_state

    step_h = float(config.simulation.get("step_h", 1.0))
    # Until the loop exists (the partners start first) the clock reads where the run resumes
    # (progress.json, or the shared state database when [state] url is set).
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    state = open_state(config, state_dir=Path(config.state_dir).resolve())
    try:
        progress = state.progress().load(DEFAULT_PARTITION, now)
    finally:
        state.close()
    start = progress.sim_start + timedelta(hours=progress.ticks * step_h)
    return DeploymentClock.simulated(step_h=step_h, tick_s=tick_s, start=start)


__all__ = ["WALL_CLOCK", "DeploymentClock", "plant_clock"]
