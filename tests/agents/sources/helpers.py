"""Waiting for conditions (never for wall-clock durations) and collecting a source's samples."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from agents.sources.base import Quality, TagSample

DEADLINE_S = 30.0


async def wait_until(
    condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"not within {deadline_s:g} s: {what}")
        await asyncio.sleep(0.05)


class Collected:
    def __init__(self) -> None:
        self.samples: list[TagSample] = []

    def __call__(self, s: TagSample) -> None:
        self.samples.append(s)

    def of(self, sensor: str, asset: str | None = None) -> list[TagSample]:
        return [
            s for s in self.samples if s.sensor == sensor and (asset is None or s.asset_id == asset)
        ]

    def last(self, sensor: str, asset: str | None = None) -> TagSample | None:
        got = self.of(sensor, asset)
        return got[-1] if got else None

    def has(self, sensor: str, pred: Callable[[TagSample], bool], asset: str | None = None) -> bool:
        return any(pred(s) for s in self.of(sensor, asset))

    def at(self, sensor: str, when: Any, asset: str | None = None) -> bool:
        """A sample of ``sensor`` stamped ``when`` by its source arrived."""
        return any(s.source_time == when for s in self.of(sensor, asset))

    def latest_is(self, sensor: str, quality: Quality, asset: str | None = None) -> bool:
        s = self.last(sensor, asset)
        return s is not None and s.quality is quality


@contextlib.asynccontextmanager
async def running(
    source: Any, emit: Callable[[TagSample], None]
) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(source.run(emit))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
