"""All of a plant's sources together: run them, assemble readings, hold them until delivered.

``SourceHub`` runs every source as a task, feeds their samples to one ``ReadingAssembler``, marks
tags that went silent as "no data" (MQTT with ``expect_every_s``, Modbus; OPC UA reports loss of
the server itself), and every ``flush_every_s`` appends the assembled readings to the
store-and-forward ``ReadingBuffer``. The loop takes them from the buffer (``take``) and
acknowledges them once the agents have them (``done``): the loop never knows the protocols.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from agents.base import Reading
from agents.sources.assembler import ReadingAssembler
from agents.sources.base import Clock, Quality, Source, TagSample, no_data, utc_now
from agents.sources.buffer import ReadingBuffer
from agents.sources.config import (
    ModbusSourceSpec,
    MqttSourceSpec,
    OpcUaSourceSpec,
    SourceSpec,
    Tag,
)

log = logging.getLogger(__name__)


def build_source(
    spec: SourceSpec,
    *,
    clock: Clock = utc_now,
    resume_from: Mapping[tuple[str, str], datetime] | None = None,
) -> Source:
    """The source object for one ``[[sources]]`` table (one module per protocol)."""
    if isinstance(spec, OpcUaSourceSpec):
        from agents.sources.opcua import OpcUaSource

        return OpcUaSource(spec, clock=clock, resume_from=resume_from)
    if isinstance(spec, MqttSourceSpec):
        from agents.sources.mqtt import MqttSource

        return MqttSource(spec, clock=clock)
    from agents.sources.modbus import ModbusSource

    return ModbusSource(spec, clock=clock)


def _stale_after(spec: SourceSpec) -> timedelta | None:
    if isinstance(spec, ModbusSourceSpec):
        return timedelta(seconds=spec.stale_after * spec.interval_s)
    if isinstance(spec, MqttSourceSpec) and spec.expect_every_s:
        return timedelta(seconds=spec.stale_after * spec.expect_every_s)
    return None


class SourceHub:
    def __init__(
        self,
        specs: Sequence[SourceSpec],
        buffer: ReadingBuffer,
        *,
        flush_every_s: float | None = 0.5,
        clock: Clock = utc_now,
    ) -> None:
        self.specs = list(specs)
        self.sources = [
            build_source(s, clock=clock, resume_from=buffer.tag_times(s.id)) for s in self.specs
        ]
        self._seen: dict[tuple[str, str, str], datetime] = {}
        self.buffer = buffer
        self.flush_every_s = flush_every_s
        self.clock = clock
        self.assembler = ReadingAssembler()
        self._heard: dict[tuple[str, str], tuple[datetime, Tag, str]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self.delivered_by_source: dict[str, int] = {s.id: 0 for s in self.specs}
        # Told of every sample as it arrives (the demo's twin feed waits for its tick's).
        self.listeners: list[Callable[[TagSample], None]] = []

    # ---- running -----------------------------------------------------------------------------
    def _on_sample(self, s: TagSample) -> None:
        self.assembler.add(s)
        if s.quality is not Quality.NO_DATA:
            key = (s.source_id, s.asset_id, s.sensor)
            if key not in self._seen or s.source_time > self._seen[key]:
                self._seen[key] = s.source_time
            spec = next(sp for sp in self.specs if sp.id == s.source_id)
            tag = next(t for t in spec.tags if t.key == (s.asset_id, s.sensor))
            self._heard[(s.asset_id, s.sensor)] = (self.clock(), tag, s.source_id)
        for listener in self.listeners:
            listener(s)

    def _check_stale(self) -> None:
        now = self.clock()
        for spec in self.specs:
            limit = _stale_after(spec)
            if limit is None:
                continue
            for tag in spec.tags:
                heard = self._heard.get(tag.key)
                if heard is not None and now - heard[0] > limit:
                    self._heard.pop(tag.key)
                    self.assembler.add(
                        no_data(spec.id, tag, now, f"no update for {limit.total_seconds():g} s"),
                        counted=False,
                    )

    def flush(self) -> list[Reading]:
        """Stale check, assemble, append to the buffer; returns what was appended."""
        self._check_stale()
        readings = self.assembler.flush()
        seen, self._seen = self._seen, {}
        self.buffer.put(readings, seen)
        return readings

    def discard(self) -> None:
        """Forget the samples not yet flushed (their values stay the sensors' latest)."""
        for samples in self.assembler.pending.values():
            for s in sorted(samples, key=lambda s: s.source_time):
                self.assembler._apply(s)
        self.assembler.pending.clear()
        self._seen = {}

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_every_s)
            try:
                self.flush()
            except Exception:  # noqa: BLE001  supervisor loop: log, keep the sources running
                log.exception("source hub: flush failed")

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(src.run(self._on_sample), name=f"source:{src.id}")
            for src in self.sources
        ]
        if self.flush_every_s is not None:  # None: the caller flushes (the demo's twin feed)
            self._tasks.append(asyncio.create_task(self._flush_loop(), name="source-hub:flush"))

    async def stop(self, timeout_s: float = 10.0) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a protocol library that swallows a cancel must not hang the shutdown.
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
            for task in pending:
                log.error("source hub: %s did not stop within %.0f s", task.get_name(), timeout_s)
        self._tasks = []
        self.flush()  # what the sources hold goes to disk, not lost with the process

    # ---- the loop's side -------------------------------------------------------------------
    def take(self, limit: int = 5000) -> tuple[int | None, list[Reading]]:
        """The oldest buffered readings, in order, and the sequence number to ``done`` them with."""
        rows = self.buffer.peek(limit)
        return (rows[-1][0] if rows else None), [r for _, r in rows]

    def done(self, upto: int | None) -> None:
        if upto is not None:
            self.buffer.ack(upto)

    def readings_by_source(self) -> list[dict[str, Any]]:
        """Values received per source (tag samples, bad ones included; not the hub's own "no
        update" notes): ``[{"source", "protocol", "readings"}]``."""
        counts = self.assembler.samples_by_source
        return [
            {"source": spec.id, "protocol": spec.kind, "readings": int(counts.get(spec.id, 0))}
            for spec in self.specs
        ]


__all__ = ["SourceHub", "build_source"]
