"""Instrument faults, kept apart from machine faults.

A thermocouple that stops changing, a transmitter that holds its last value, a loose connector
that spikes: each looks like a dramatic change of the machine if its values are believed. This
module decides, per sensor and per reading, whether a value can be believed, and says why not.

Kinds (``FaultKind``):

- ``dropout``      the declared sensor is missing from the reading, or no reading came for much
                   longer than usual (a gap in time);
- ``nan``          NaN / inf values (a burst is counted);
- ``out_of_range`` outside the sensor's declared plausible range (``SensorSpec.min`` / ``max``),
                   or a waveform that reaches the declared ``max`` (clipping / saturation);
- ``stuck``        the exact same value repeated, from a sensor that normally varies (a gateway or
                   transmitter holding the last value);
- ``flatline``     the signal lost its variation: its spread over a window is a small fraction of
                   its usual reading-to-reading change (a dead sensor reading a constant plus
                   converter noise), or a waveform with no variation at all;
- ``jump``         a change from the last believable value beyond ``SensorSpec.max_step`` (a
                   physical limit: flagged until the value is back within reach) or far beyond
                   the changes this sensor has shown so far (a new level held for a while is
                   then believed: a new job, a new set point).

Cross-check with correlated sensors (``SensorSpec.correlated_with``): a temperature that goes flat
while vibration and power keep moving is a dead sensor; everything going flat together is a machine
at rest, not an instrument fault. A learned-limit jump is believed when a correlated sensor made an
unusual move in the same reading. A faulted value is withheld from the machine assessment and never
raises: the caller gets the clean values and the list of faults.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agents import smallstats
from agents.models import FaultKind, SensorFault, SensorKind, SensorSpec

#: Magnitude beyond which a finite value is garbage whatever the sensor (see ``inspect``).
IMPLAUSIBLE = 1e15


class FaultSettings(BaseModel):
    """How suspicious the detectors are. Defaults suit readings every few minutes to an hour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(default=8, ge=3)  # readings looked at for flatline
    stuck_repeats: int = Field(default=4, ge=2)  # identical values in a row that make 'stuck'
    flat_ratio: float = Field(default=0.1, gt=0)  # window std / usual step below this = flatline
    jump_factor: float = Field(default=6.0, gt=1)  # learned jump limit = factor x 98th pct step
    min_history: int = Field(default=20, ge=5)  # steps seen before learned limits apply
    jump_accept: int = Field(default=3, ge=2)  # a new level held this long is believed
    gap_factor: float = Field(default=4.0, gt=1)  # interval this many times usual = dropout


_HISTORY = 200  # believable steps kept per sensor to learn its usual variation


class _Inspection:
    """One value looked at (a plain slotted class: made for every sensor of every reading)."""

    __slots__ = ("alive", "faults", "learned_jump_only", "unusual_move", "value")

    def __init__(
        self, value: float | None, faults: dict[FaultKind, str] | None = None
    ) -> None:
        self.value = value  # the value if it is finite, else None
        self.faults: dict[FaultKind, str] = {} if faults is None else faults
        self.alive = False  # the sensor shows its usual variation (for cross-checks)
        self.unusual_move = False  # a large but possibly real change (for cross-checks)
        self.learned_jump_only = False  # the jump exceeds only the learned, not the declared limit


def _clearly_alive(window8: tuple[float, ...], flat_at: float) -> bool:
    """Whether eight finite values surely spread (``smallstats.std8``) at least ``flat_at``,
    without computing the std: it is at least their range / 4 (range / sqrt(2n), the two
    extremes alone), and the margins cover the std's rounding (relative, and absolute for large
    values, ~n ulp of the largest)."""
    hi, lo = max(window8), min(window8)
    return flat_at > 0 and (hi - lo) * 0.25 >= flat_at * (1.0 + 1e-9) + 1e-12 * max(hi, -lo)


class SensorFaultDetector:
    """The stateful checks of one scalar sensor; the monitor cross-checks detectors."""

    def __init__(self, spec: SensorSpec, settings: FaultSettings) -> None:
        self.spec = spec
        self.settings = settings
        self.recent: deque[float] = deque(maxlen=settings.window)  # finite raw values
        self.steps: deque[float] = deque(maxlen=_HISTORY)  # |change| between believable values
        self.last_good: float | None = None
        self.last_raw: float | None = None
        self.repeats = 0
        self.jump_run = 0
        self.nan_run = 0
        self.unseen = 0  # readings since the last believable value in which none was seen
        self._cache: tuple[float, float, float] | None = None
        self._fresh = 0

    def _learned(self) -> tuple[float, float, float] | None:
        """(median step, 98th percentile step, share of zero steps) of believable values.

        Recomputed every few new steps only: they describe the sensor's usual behaviour, which
        one more value does not change, and the checks run for every reading of every sensor.
        """
        if len(self.steps) < self.settings.min_history:
            return None
        if self._cache is None or self._fresh >= 8:
            ordered = sorted(self.steps)  # numpy's results, bit for bit (agents.smallstats)
            self._cache = (
                smallstats.median_sorted(ordered),
                smallstats.quantile_sorted(ordered, 0.98),
                ordered.count(0.0) / len(ordered),
            )
            self._fresh = 0
        return self._cache

    def usual_step(self) -> float | None:
        """Median reading-to-reading change of believable values, once enough are known."""
        learned = self._learned()
        return learned[0] if learned else None

    def stuck_run(self) -> int:
        """Identical values in a row that make 'stuck' for this sensor.

        A quantised sensor (whole degrees, a counter) repeats its value as a matter of course: a
        run of k repeats is called stuck only when, at the share ``p`` of unchanged steps it has
        shown, chance would give it less than once in a million (``p ** (k - 1) < 1e-6``).
        """
        learned = self._learned()
        return self._stuck_run(learned[2] if learned else 0.0)

    def _stuck_run(self, p: float) -> int:
        if p <= 0.0:
            return self.settings.stuck_repeats
        if p >= 1.0:
            return 1 << 30
        return max(self.settings.stuck_repeats, 2 + int(math.log(1e-6) / math.log(p)))

    def jump_limit(self) -> float | None:
        # Needs a longer history than the flatline check: rare large but normal changes (a new
        # job, a set-point change) must have been seen before they can be told from faults.
        if len(self.steps) < 2 * self.settings.min_history:
            return None
        learned = self._learned()
        return self.settings.jump_factor * max(learned[1], 1e-9) if learned else None

    def inspect(self, raw: Any, *, after_gap: bool) -> _Inspection:
        """Look at one value without changing state (``commit`` does that).

        Made for every sensor of every reading, so written for the common case: a float, no
        learned statistics recomputed, the window's spread computed only when a rule reads it.
        """
        if raw is None:
            return _Inspection(None, {FaultKind.DROPOUT: "no value in this reading"})
        if type(raw) is float:
            value = raw
        else:
            try:
                value = float(raw)
            except (TypeError, ValueError):
                return _Inspection(None, {FaultKind.NAN: f"value {raw!r} is not a number"})
        if not math.isfinite(value):
            n = self.nan_run + 1
            return _Inspection(None, {FaultKind.NAN: f"{value} ({n} non-finite value(s) in a row)"})
        if abs(value) > IMPLAUSIBLE:
            # No instrument reads this (even a plant's lifetime energy counter in Wh stays far
            # below): a corrupt register or payload. Kept out of baselines and trends, like NaN.
            return _Inspection(None, {FaultKind.OUT_OF_RANGE: f"{value:g} is not a physical reading"})
        ins = _Inspection(value)
        spec = self.spec
        settings = self.settings
        lo, hi = spec.min, spec.max
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            ins.faults[FaultKind.OUT_OF_RANGE] = (
                f"{value:g} {spec.unit} outside the plausible range [{lo}, {hi}]"
            )
        # usual_step(), stuck_run() and jump_limit() of one _learned() (made for every reading)
        n_steps = len(self.steps)
        if n_steps < settings.min_history:
            learned_stats = None
        elif self._cache is not None and self._fresh < 8:
            learned_stats = self._cache
        else:
            learned_stats = self._learned()
        usual = learned_stats[0] if learned_stats else None
        last_raw = self.last_raw
        repeats = self.repeats + 1 if last_raw is not None and value == last_raw else 1
        stuck = False
        if (
            usual is not None
            and usual > 0
            and repeats >= self._stuck_run(learned_stats[2] if learned_stats else 0.0)
        ):
            stuck = True
            ins.faults[FaultKind.STUCK] = (
                f"same value {value:g} {spec.unit} {repeats} times in a row"
            )
        # The window's spread is read only against a learned usual step (flatline, alive).
        w = settings.window
        recent = self.recent
        if usual is not None and len(recent) >= w - 1:
            flat_at = settings.flat_ratio * usual
            if w == 8:
                r = recent
                if len(r) == 8:
                    window8 = (r[1], r[2], r[3], r[4], r[5], r[6], r[7], value)
                else:
                    window8 = (r[0], r[1], r[2], r[3], r[4], r[5], r[6], value)
                if _clearly_alive(window8, flat_at):  # most readings of a live sensor
                    ins.alive = True
                    spread = None
                else:
                    spread = smallstats.std8(*window8)
            else:
                window = [*recent, value][-w:]
                # Plain floats: absurd values give an inf/nan spread without a warning, as
                # numpy's std under errstate did, and the same bits (``agents.smallstats``).
                spread = smallstats.std(window) if w <= 128 else float(np.std(window))
            if spread is not None:
                if (
                    usual > 0
                    and spread < flat_at
                    and not stuck
                    # A window of one repeated value is a run, judged by the stuck rule above.
                    and repeats < w
                ):
                    ins.faults[FaultKind.FLATLINE] = (
                        f"spread {spread:.3g} {spec.unit} over {w} readings, "
                        f"usually {usual:.3g} {spec.unit} per reading"
                    )
                ins.alive = spread >= flat_at
        last_good = self.last_good
        if last_good is not None and not after_gap:
            step = abs(value - last_good)
            # Readings in which the value was not seen (NaN, flatline, ...) let the process move
            # on; readings rejected as jumps do not, so a sensor stuck far off never drifts back
            # into belief by waiting.
            k = 1 + self.unseen
            learned = (
                settings.jump_factor * max(learned_stats[1], 1e-9)
                if learned_stats and n_steps >= 2 * settings.min_history
                else None
            )  # jump_limit()
            if learned is not None and step > learned / settings.jump_factor * 3:
                ins.unusual_move = True
            max_step = spec.max_step
            over_declared = max_step is not None and step > max_step * k
            over_learned = learned is not None and step > learned * k
            # A declared limit is physics: never accepted. A learned one is experience: a new
            # level held for `jump_accept` readings is believed (a new job, a new set point).
            if over_declared or (over_learned and self.jump_run + 1 < settings.jump_accept):
                limit = (max_step if over_declared else learned) * k  # type: ignore[operator]
                ins.faults[FaultKind.JUMP] = (
                    f"changed {step:.3g} {spec.unit} since the last believable value "
                    f"{last_good:g} (limit {limit:.3g})"
                )
                ins.learned_jump_only = not over_declared
        return ins

    def commit(self, ins: _Inspection, faulted: bool) -> None:
        """Update the state after the monitor decided whether the value is believed."""
        self.nan_run = self.nan_run + 1 if FaultKind.NAN in ins.faults else 0
        jumped = faulted and FaultKind.JUMP in ins.faults
        self.jump_run = self.jump_run + 1 if jumped else 0
        if ins.value is None or (faulted and not jumped):
            self.unseen += 1
        if ins.value is None:
            return
        value = ins.value
        self.repeats = (
            self.repeats + 1 if self.last_raw is not None and value == self.last_raw else 1
        )
        self.last_raw = value
        self.recent.append(value)
        if faulted:
            return
        if self.last_good is not None and self.unseen == 0:
            self.steps.append(abs(value - self.last_good))
            self._fresh += 1
        self.last_good = value
        self.unseen = 0

    def state(self) -> dict[str, Any]:
        return {
            "recent": list(self.recent),
            "steps": list(self.steps),
            "last_good": self.last_good,
            "last_raw": self.last_raw,
            "repeats": self.repeats,
            "jump_run": self.jump_run,
            "nan_run": self.nan_run,
            "unseen": self.unseen,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.recent = deque((float(v) for v in state["recent"]), maxlen=self.settings.window)
        self.steps = deque((float(v) for v in state["steps"]), maxlen=_HISTORY)
        self.last_good = state["last_good"]
        self.last_raw = state["last_raw"]
        self.repeats = int(state["repeats"])
        self.jump_run = int(state["jump_run"])
        self.nan_run = int(state["nan_run"])
        self.unseen = int(state["unseen"])
        self._cache = None


def inspect_waveform(spec: SensorSpec, samples: Any) -> dict[FaultKind, str]:
    """Instrument faults of one waveform window (stateless: a window carries its own evidence)."""
    if samples is None:
        return {FaultKind.DROPOUT: "no waveform in this reading"}
    try:
        arr = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        return {FaultKind.NAN: "waveform samples are not numbers"}
    if arr.ndim != 1 or arr.size < 64:
        return {FaultKind.DROPOUT: f"waveform has shape {arr.shape}; expected at least 64 samples"}
    finite = np.isfinite(arr)
    if not finite.all():
        return {FaultKind.NAN: f"{int((~finite).sum())} of {arr.size} samples are NaN/inf"}
    faults: dict[FaultKind, str] = {}
    if float(np.ptp(arr)) == 0.0:
        faults[FaultKind.FLATLINE] = f"all {arr.size} samples equal {arr[0]:g} {spec.unit}"
    top = float(np.max(np.abs(arr)))
    if spec.max is not None and top >= spec.max:
        faults[FaultKind.OUT_OF_RANGE] = f"peak {top:g} {spec.unit} at the range limit {spec.max}"
    return faults


@dataclass
class FaultCheck:
    """Result of checking one reading: what may be used, and what is wrong with the rest."""

    values: dict[str, float]  # believable scalar values by sensor
    waveforms: dict[str, np.ndarray]  # believable waveforms by sensor
    faults: tuple[SensorFault, ...]
    instrument_streak: int  # longest run of consecutive faulted readings among the sensors
    out_of_order: bool = False  # the reading is not later than the previous one


class SensorFaultMonitor:
    """All sensors of one asset: per-sensor detectors, cross-checks and fault start times."""

    def __init__(
        self, sensors: tuple[SensorSpec, ...], settings: FaultSettings | None = None
    ) -> None:
        self.settings = settings or FaultSettings()
        self.specs = {s.name: s for s in sensors}
        self.detectors = {
            s.name: SensorFaultDetector(s, self.settings)
            for s in sensors
            if s.kind is not SensorKind.VIBRATION_ACCELERATION
        }
        # Correlation is mutual: power declared as moving with load means load moves with power.
        self.related: dict[str, set[str]] = {name: set() for name in self.specs}
        for s in sensors:
            for other in s.correlated_with:
                if other in self.related and other != s.name:
                    self.related[s.name].add(other)
                    self.related[other].add(s.name)
        # The correlated sensors a scalar sensor's faults are cross-checked against.
        self._related = {
            name: [c for c in self.related[name] if c in self.detectors] for name in self.detectors
        }
        self._wave_sensors = [
            name for name, s in self.specs.items() if s.kind is SensorKind.VIBRATION_ACCELERATION
        ]
        self.streak: dict[str, int] = {name: 0 for name in self.specs}
        self.since: dict[str, dict[str, datetime]] = {name: {} for name in self.specs}
        self.last_time: datetime | None = None
        self.intervals: deque[float] = deque(maxlen=50)  # seconds between readings
        self.wave_last: dict[str, datetime] = {}
        self.wave_intervals: dict[str, deque[float]] = {
            name: deque(maxlen=20) for name in self.specs
        }

    def _waveform_overdue(self, name: str, time: datetime) -> dict[FaultKind, str]:
        last, intervals = self.wave_last.get(name), self.wave_intervals[name]
        if last is None or len(intervals) < 3:
            return {}
        usual = smallstats.median(intervals)
        late = (time - last).total_seconds()
        if usual > 0 and late > self.settings.gap_factor * usual:
            return {
                FaultKind.DROPOUT: f"no waveform for {late / 3600:.3g} h "
                f"(usually every {usual / 3600:.3g} h)"
            }
        return {}

    def _gap(self, time: datetime) -> tuple[str | None, bool]:
        """(detail of a time gap if there is one, whether the reading is out of order)."""
        if self.last_time is None:
            return None, False
        dt = (time - self.last_time).total_seconds()
        if dt <= 0:
            return None, True
        detail = None
        if len(self.intervals) >= 5:
            usual = smallstats.median(self.intervals)
            if usual > 0 and dt > self.settings.gap_factor * usual:
                detail = f"no reading for {dt / 3600:.3g} h (usually every {usual / 3600:.3g} h)"
        self.intervals.append(dt)
        return detail, False

    def check(
        self, time: datetime, values: Mapping[str, Any], waveforms: Mapping[str, Any]
    ) -> FaultCheck:
        """Check one reading. Never raises on bad values: they become faults."""
        gap, out_of_order = self._gap(time)
        if not out_of_order:
            self.last_time = time
        after_gap = gap is not None
        inspections = {
            name: det.inspect(values.get(name), after_gap=after_gap)
            for name, det in self.detectors.items()
        }
        related_of = self._related
        found: dict[str, dict[FaultKind, str]] = {}
        for name, ins in inspections.items():
            if not ins.faults:  # the cross-checks below only take faults away
                found[name] = {}
                continue
            faults = dict(ins.faults)
            related = [inspections[c] for c in related_of[name]]
            if related:
                # Flat together with everything it moves with: the machine is at rest.
                if not any(r.alive for r in related):
                    faults.pop(FaultKind.FLATLINE, None)
                    faults.pop(FaultKind.STUCK, None)
                # A large move echoed by a correlated sensor is the process, not the instrument.
                if ins.learned_jump_only and any(r.unusual_move for r in related):
                    faults.pop(FaultKind.JUMP, None)
            found[name] = faults
        clean_waveforms: dict[str, np.ndarray] = {}
        for name in self._wave_sensors:
            if name not in waveforms:
                # Waveforms are captured on their own, slower schedule: a reading without one is
                # normal; only a waveform overdue for much longer than usual is a dropout.
                found[name] = self._waveform_overdue(name, time)
                continue
            faults = inspect_waveform(self.specs[name], waveforms[name])
            found[name] = faults
            if not out_of_order:
                last = self.wave_last.get(name)
                if last is not None and time > last:
                    self.wave_intervals[name].append((time - last).total_seconds())
                self.wave_last[name] = time
            if not faults:
                clean_waveforms[name] = np.asarray(waveforms[name], dtype=np.float64)
        if gap is not None:
            for name in self.detectors:
                found[name].setdefault(FaultKind.DROPOUT, gap)
        clean: dict[str, float] = {}
        for name, det in self.detectors.items():
            ins = inspections[name]
            faults = found[name]
            if not faults:
                det.commit(ins, faulted=False)
                if ins.value is not None:
                    clean[name] = ins.value
                continue
            # A dropout flagged only for a time gap does not make the value itself unbelievable.
            bad = {k for k in faults if not (k is FaultKind.DROPOUT and ins.value is not None)}
            det.commit(ins, faulted=bool(bad))
            if not bad and ins.value is not None:
                clean[name] = ins.value
        report: list[SensorFault] = []
        streak = self.streak
        for name, faults in found.items():
            started = self.since[name]
            if not faults:
                streak[name] = 0
                if started:
                    started.clear()
                continue
            streak[name] += 1
            for kind in list(started):
                if kind not in faults:
                    del started[kind]
            for kind, detail in faults.items():
                started.setdefault(kind.value, time)
                report.append(
                    SensorFault(sensor=name, kind=kind, detail=detail, since=started[kind.value])
                )
        return FaultCheck(
            values=clean,
            waveforms=clean_waveforms,
            faults=tuple(report),
            instrument_streak=max(self.streak.values(), default=0),
            out_of_order=out_of_order,
        )

    def state(self) -> dict[str, Any]:
        return {
            "detectors": {name: det.state() for name, det in self.detectors.items()},
            "streak": dict(self.streak),
            "since": {n: {k: t.isoformat() for k, t in s.items()} for n, s in self.since.items()},
            "last_time": self.last_time.isoformat() if self.last_time else None,
            "intervals": list(self.intervals),
            "wave_last": {n: t.isoformat() for n, t in self.wave_last.items()},
            "wave_intervals": {n: list(d) for n, d in self.wave_intervals.items()},
        }

    def load(self, state: Mapping[str, Any]) -> None:
        for name, det_state in state["detectors"].items():
            if name in self.detectors:
                self.detectors[name].load(det_state)
        self.streak = {name: int(state["streak"].get(name, 0)) for name in self.specs}
        self.since = {
            name: {k: datetime.fromisoformat(t) for k, t in state["since"].get(name, {}).items()}
            for name in self.specs
        }
        self.last_time = datetime.fromisoformat(state["last_time"]) if state["last_time"] else None
        self.intervals = deque((float(v) for v in state["intervals"]), maxlen=50)
        self.wave_last = {n: datetime.fromisoformat(t) for n, t in state["wave_last"].items()}
        for name in self.specs:
            values = state["wave_intervals"].get(name, [])
            self.wave_intervals[name] = deque((float(v) for v in values), maxlen=20)


__all__ = [
    "FaultCheck",
    "FaultSettings",
    "SensorFaultDetector",
    "SensorFaultMonitor",
    "inspect_waveform",
]
