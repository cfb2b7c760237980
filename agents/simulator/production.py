"""The twin's production: what a machine makes in its planned busy time, and why it stops.

Per machine and busy segment (the caller cuts the plant's calendar into busy segments and
planned stops): micro-stops (a Poisson number a hour, 1-4 minutes each), a changeover at each
new material batch, a slower real cycle than the ideal one (speed loss), scrap drawn per part
with a rate that depends on the line, the shift and the batch, and a breakdown (the asset failed
red) that stops it for the whole segment. Seeded: the same run makes the same parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np


@dataclass(frozen=True)
class Segment:
    """One stretch of a machine's time: running, or down with a reason."""

    start: datetime
    end: datetime
    state: str  # "running" | "down"
    reason: str = ""


@dataclass(frozen=True)
class Output:
    segments: tuple[Segment, ...]
    produced: int
    good: int
    batch: str
    kwh: float


def _seed(asset_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{asset_id}:{seed}".encode()).digest()[:4], "big")


@dataclass
class ProductionTwin:
    asset_id: str
    line: str
    ideal_cycle_s: float = 120.0
    seed: int = 1
    base_scrap: float = 0.02
    # Extra scrap by shift name (the late shift runs without the process engineer) and for
    # every n-th batch of material (a supplier's lot out of tolerance).
    shift_scrap: dict[str, float] = field(default_factory=lambda: {"late shift": 0.02})
    bad_batch_every: int = 4
    bad_batch_scrap: float = 0.05
    batch_h: float = 16.0
    micro_stops_per_h: float = 2.0
    speed_factor: float = 1.08  # real cycle / ideal cycle
    idle_kw: float = 4.0
    cutting_kw: float = 18.0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(_seed(self.asset_id, self.seed))
        self._epoch: datetime | None = None
        self._last_batch: str | None = None

    def batch_at(self, at: datetime) -> tuple[str, int]:
        if self._epoch is None:
            self._epoch = at
        n = int((at - self._epoch).total_seconds() // (self.batch_h * 3600))
        return f"{self.line}-B{n + 1:03d}", n + 1

    def run(self, start: datetime, end: datetime, *, shift: str, failed: bool) -> Output:
        """What happens in one busy segment [start, end)."""
        batch, number = self.batch_at(start)
        span_s = (end - start).total_seconds()
        if span_s <= 0:
            return Output((), 0, 0, batch, 0.0)
        if failed:
            return Output(
                (Segment(start, end, "down", "breakdown"),), 0, 0, batch, self.idle_kw * span_s / 3600
            )
        stops: list[tuple[float, str]] = []
        if self._last_batch is not None and batch != self._last_batch:
            stops.append((min(span_s / 2, 900.0), "changeover"))
        self._last_batch = batch
        for _ in range(int(self._rng.poisson(self.micro_stops_per_h * span_s / 3600))):
            stops.append((float(self._rng.uniform(60, 240)), "micro-stop"))
        down_s = min(sum(s for s, _ in stops), span_s)
        segments: list[Segment] = []
        at = start
        # Stops spread through the segment: run, stop, run, stop ... (their order is the draw's).
        gaps = len(stops) + 1
        run_each = (span_s - down_s) / gaps
        for seconds, reason in stops:
            seconds = min(seconds, (end - at).total_seconds())
            if run_each > 0:
                segments.append(Segment(at, at + timedelta(seconds=run_each), "running"))
                at += timedelta(seconds=run_each)
            if seconds > 0:
                segments.append(Segment(at, at + timedelta(seconds=seconds), "down", reason))
                at += timedelta(seconds=seconds)
        if at < end:
            segments.append(Segment(at, end, "running"))
        run_s = span_s - down_s
        produced = int(run_s // (self.ideal_cycle_s * self.speed_factor))
        rate = self.base_scrap + self.shift_scrap.get(shift, 0.0)
        if self.bad_batch_every and number % self.bad_batch_every == 0:
            rate += self.bad_batch_scrap
        scrap = int(self._rng.binomial(produced, min(rate, 1.0))) if produced else 0
        kwh = (self.idle_kw * span_s + self.cutting_kw * run_s) / 3600
        return Output(tuple(segments), produced, produced - scrap, batch, kwh)
