"""The whole sample plant as one seeded simulation: a twin per asset, advanced tick by tick.

Used by the demo and the loop benchmark. Events from the outside world change the twins:
``repair`` (a bearing replaced after a maintenance work order), ``receive`` (a goods receipt of a
part order). Everything that changed the run is kept in ``journal`` so a restarted orchestrator
can ``replay`` to where it was and continue with the same readings.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agents.base import Reading
from agents.errors import ConfigError
from agents.inventory_config import InventoryItem
from agents.models import FaultKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaultSpec(_Frozen):
    sensor: str
    kind: FaultKind
    start_h: float = Field(ge=0)
    duration_h: float = Field(default=math.inf, gt=0)
    magnitude: float = 0.0


class TwinSpec(_Frozen):
    """Which twin drives an asset, and its knobs (hours are from the start of the run)."""

    asset: str
    twin: Literal["spindle", "furnace", "stock", "energy"]
    seed: int = 1
    # spindle: bearing defect onset and life (None = never wears)
    onset_h: float | None = None
    life_h: float | None = None
    faults: tuple[FaultSpec, ...] = ()
    # spindle: time between readings and between waveform captures (inf: none), first capture
    step_h: float = Field(default=0.5, gt=0)
    waveform_every_h: float = Field(default=2.0, gt=0)
    waveform_offset: int = Field(default=0, ge=0)
    # stock
    initial_stock: float | None = None
    demand_per_h: dict[str, float] | None = None
    surge_line: str | None = None
    surge_at_h: float = 0.0
    surge_factor: float = 1.0
    # energy
    drift_start_h: float | None = None
    drift_pct_per_day: float | None = None
    spike_at_h: float | None = None
    # furnace
    setpoint_c: float = 860.0


class SimulationSpec(_Frozen):
    step_h: float = Field(default=1.0, gt=0)
    twins: tuple[TwinSpec, ...] = ()


class FurnaceTwin:
    """A hardening furnace holding its set-point; heater power follows the load of each batch."""

    def __init__(
        self, seed: int, asset_id: str, *, start: datetime, setpoint_c: float = 860.0
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.asset_id = asset_id
        self.start = start
        self.setpoint = setpoint_c

    def readings(self, step_h: float = 0.5) -> Iterator[Reading]:
        i = 0
        while True:
            batch = 1.0 if (i // 12) % 2 == 0 else 0.6  # heavier and lighter batches, 6 h each
            yield Reading(
                asset_id=self.asset_id,
                time=self.start + timedelta(hours=i * step_h),
                values={
                    "zone_temp": self.setpoint + float(self.rng.normal(0.0, 2.5)),
                    "heater_power": 120.0 + 80.0 * batch + float(self.rng.normal(0.0, 4.0)),
                },
            )
            i += 1


@dataclass
class _Stream:
    spec: TwinSpec
    source: Iterator[Reading]
    pending: Reading | None = None
    twin: Any = None
    done: bool = False
    wears: bool = False  # a spindle whose bearing is wearing (until a repair)


@dataclass
class PlantSim:
    """Advance with ``tick()``; each tick returns every reading of every twin up to the new time."""

    spec: SimulationSpec
    inventory: Mapping[str, InventoryItem]
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 6, 0, tzinfo=UTC))
    journal: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ticks = 0
        self._streams: dict[str, _Stream] = {}
        for twin in self.spec.twins:
            if twin.asset in self._streams:
                raise ConfigError(f"simulation: asset {twin.asset!r} has two twins")
            self._streams[twin.asset] = self._build(twin, self.start, wear=True)

    # ---- building ---------------------------------------------------------------------------
    def _build(
        self,
        spec: TwinSpec,
        start: datetime,
        *,
        wear: bool,
        seed_offset: int = 0,
        faults: bool = True,
    ) -> _Stream:
        seed = spec.seed + seed_offset
        if spec.twin == "spindle":
            from agents.simulator.machine_twin import Injection, MachineTwin

            elapsed_h = (start - self.start).total_seconds() / 3600
            injections = tuple(
                Injection(
                    sensor=f.sensor,
                    kind=f.kind,
                    start_h=f.start_h - elapsed_h,
                    duration_h=f.duration_h,
                    magnitude=f.magnitude,
                )
                for f in (spec.faults if faults else ())
            )
            never = spec.life_h is None or not wear
            machine = MachineTwin(
                seed,
                asset_id=spec.asset,
                # The wear clock keeps running across a rebuild that only fixes instruments.
                onset_h=(spec.onset_h or 0.0) - elapsed_h if not never else 0.0,
                life_h=spec.life_h if not never else math.inf,
                faults=injections,
                start=start,
                step_h=spec.step_h,
                waveform_every_h=spec.waveform_every_h,
                waveform_offset=spec.waveform_offset,
            )
            until = None if not never else 10 * 365 * 24.0
            return _Stream(spec, machine.readings(until_h=until), twin=machine, wears=not never)
        if spec.twin == "furnace":
            furnace = FurnaceTwin(seed, spec.asset, start=start, setpoint_c=spec.setpoint_c)
            return _Stream(spec, furnace.readings(), twin=furnace)
        if spec.twin == "stock":
            from agents.simulator.stock_twin import StockTwin

            item = self.inventory.get(spec.asset)
            if item is None:
                raise ConfigError(f"simulation: stock twin for unknown SKU {spec.asset!r}")
            knobs: dict[str, Any] = {
                k: v
                for k, v in {
                    "initial_stock": spec.initial_stock,
                    "demand_per_h": spec.demand_per_h,
                    "surge_line": spec.surge_line,
                }.items()
                if v is not None
            }
            stock = StockTwin(
                seed=seed,
                item=item,
                surge_at_h=spec.surge_at_h,
                surge_factor=spec.surge_factor,
                start=start,
                **knobs,
            )
            return _Stream(spec, stock.readings(), twin=stock)
        from agents.simulator.compressor_twin import CompressorTwin

        knobs = {
            k: v
            for k, v in {
                "drift_start_h": spec.drift_start_h,
                "drift_pct_per_day": spec.drift_pct_per_day,
            }.items()
            if v is not None
        }
        energy = CompressorTwin(seed=seed, spike_at_h=spec.spike_at_h, start=start, **knobs)
        return _Stream(spec, _renamed(energy.readings(), spec.asset), twin=energy)

    # ---- running ----------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.start + timedelta(hours=self.ticks * self.spec.step_h)

    @property
    def hours(self) -> float:
        return self.ticks * self.spec.step_h

    def tick(self) -> list[Reading]:
        """Advance one step and return the readings of every twin up to the new time."""
        self.ticks += 1
        self._apply_journal(self.ticks)
        now = self.now
        out: list[Reading] = []
        for stream in self._streams.values():
            while not stream.done:
                if stream.pending is None:
                    stream.pending = next(stream.source, None)
                    if stream.pending is None:
                        stream.done = True  # the machine failed: it stops reporting
                        break
                if stream.pending.time > now:
                    break
                out.append(stream.pending)
                stream.pending = None
        return out

    def failed(self) -> list[str]:
        """Assets whose twin ran to failure."""
        return [asset for asset, s in self._streams.items() if s.done]

    # ---- events from outside ----------------------------------------------------------------
    def repair(self, asset_id: str) -> None:
        """The bearing was replaced: the spindle runs healthy from the next tick on."""
        self._record({"event": "repair", "asset": asset_id, "tick": self.ticks + 1})

    def fix_instruments(self, asset_id: str) -> None:
        """The faulty sensors were replaced: their injected faults end; the wear goes on."""
        self._record({"event": "fix_instruments", "asset": asset_id, "tick": self.ticks + 1})

    def receive(self, sku: str, qty: float) -> None:
        """A goods receipt: the stock twin books it at the next tick."""
        self._record({"event": "receive", "asset": sku, "qty": float(qty), "tick": self.ticks + 1})

    def issue(self, sku: str, qty: float) -> None:
        """Parts used by a job (a maintenance job's kit): they leave the stock at the next tick."""
        self._record({"event": "issue", "asset": sku, "qty": float(qty), "tick": self.ticks + 1})

    def _record(self, event: dict[str, Any]) -> None:
        if event["asset"] not in self._streams:
            raise ConfigError(f"simulation: no twin for asset {event['asset']!r}")
        self.journal.append(event)

    def _apply_journal(self, tick: int) -> None:
        for event in self.journal:
            if event["tick"] != tick:
                continue
            stream = self._streams[event["asset"]]
            if event["event"] == "repair" and stream.spec.twin == "spindle":
                # Same machine, new bearing: the healthy vibration level stays the machine's own.
                fresh = self._build(stream.spec, self.now, wear=False)
                self._streams[event["asset"]] = fresh
            elif event["event"] == "fix_instruments" and stream.spec.twin == "spindle":
                self._streams[event["asset"]] = self._build(
                    stream.spec, self.now, wear=stream.wears, seed_offset=2000 + tick, faults=False
                )
            elif event["event"] == "receive" and stream.spec.twin == "stock":
                stream.twin.receive(event["qty"])
            elif event["event"] == "issue" and stream.spec.twin == "stock":
                stream.twin.issue(event["qty"])

    def replay(self, ticks: int, journal: list[dict[str, Any]]) -> None:
        """Fast-forward a fresh simulation to ``ticks`` with a saved journal (readings dropped)."""
        self.journal = list(journal)
        while self.ticks < ticks:
            self.tick()


def _renamed(source: Iterator[Reading], asset_id: str) -> Iterator[Reading]:
    for reading in source:
        yield Reading(
            asset_id=asset_id, time=reading.time, values=reading.values, waveforms=reading.waveforms
        )
