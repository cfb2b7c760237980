"""The machine agent: vibration, temperature, load and power in; a ``HealthReport`` out.

Processing follows ISO 13374 (OSA-CBM): data acquisition (``Reading``) -> data manipulation
(features: ``agents.signal``) -> state detection (ISO 10816-3 zone, declared limits, anomaly against
the learned baseline, bearing defect lines: ``agents.bearing``) -> health assessment (status with
persistence) -> prognostics (trend and RUL: ``agents.trend``). Instrument faults are screened out
first (``agents.sensor_faults``) so a broken sensor is reported as such and never judged as the
machine.

The asset's declaration (``MachineAsset``, ``MachineThresholds``, ``Limit``) lives in
``agents.machine_config`` and is re-exported here.

Status rules (a level must hold ``persistence`` readings in a row before the status rises to it, and
the status falls only after ``clear_after`` readings below it):

- red    ISO zone D, a declared red limit, or RUL below ``red_rul_h``;
- amber  ISO zone C, a declared amber limit, a bearing defect line, a sustained anomaly with a
         rising trend, RUL below ``amber_rul_h``; or -- at most amber -- an instrument fault.
- every indicator without a declared limit is also judged against its own commissioning
  baseline (``agents.drift``): a far, sustained, trended departure is amber, naming the indicator
  and its direction; on an asset without any red limit, a departure four times the amber
  excursion and still growing is red. RUL without a declared limit is estimated against a failure
  level learned from history (``thresholds.failure_levels``) or reported as unknown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents import machine_state
from agents.base import Reading
from agents.baseline import Baseline
from agents.bearing import BearingDiagnosis, diagnose
from agents.drift import Drift, DriftMonitor, directions_for, rul_from_drifts, small_median
from agents.errors import AutoopsError
from agents.iso10816 import classify
from agents.machine_config import Limit, MachineAsset, MachineThresholds
from agents.machine_report import ReportBuilder, bearing_findings
from agents.machine_state import ANOMALY_WINDOW as _ANOMALY_WINDOW
from agents.models import HealthReport, RulEstimate, SensorKind, Status
from agents.sensor_faults import FaultCheck, SensorFaultMonitor
from agents.signal import waveform_features
from agents.trend import TrendFit, TrendTracker, estimate_rul

_CONDITION_KINDS = frozenset(
    {SensorKind.VIBRATION_VELOCITY, SensorKind.TEMPERATURE, SensorKind.CONDITION_INDICATOR}
)
_TO_MM_S = {"mm/s": 1.0, "in/s": 25.4}
_BY_RANK = {s.rank: s for s in Status}
_WAVE_FEATURES = ("rms", "crest", "kurtosis", "velocity_rms", "defect_ratio")


#: Points kept per trend window of the main indicator (one per window / this; 86 s for the
#: default 48 h). At 1 Hz every reading kept would be 172,800 points per asset, refitted at
#: every reading: 28 GB and most of the loop at 10,000 assets (issue 16). Slower data keeps all.
MAIN_TREND_POINTS = 2000


def _main_tracker(th: MachineThresholds) -> TrendTracker:
    return TrendTracker(th.trend_window_h, min_dt_h=th.trend_window_h / MAIN_TREND_POINTS)


def _level(value: float, limit: Limit) -> Status:
    if limit.red is not None and value >= limit.red:
        return Status.RED
    if limit.amber is not None and value >= limit.amber:
        return Status.AMBER
    return Status.GREEN


@dataclass(slots=True)
class Step:
    """One reading between ``MachineAgent.begin`` and ``MachineAgent.finish``."""

    reading: Reading
    check: FaultCheck
    features: dict[str, float]
    builder: ReportBuilder
    anomaly: float | None
    top: tuple[str, float] | None
    main_z: float | None
    after_job: bool
    closed: bool
    drifts: list[Drift]
    fit_args: tuple[float | None, float] | None  # (floor, min_excess) of the trend fit, if any
    signature: tuple[Any, ...] = ()  # what the report says, set by ``finish``
    outcome: dict[str, Any] = field(default_factory=dict)  # ``ReportBuilder.build`` arguments


class MachineAgent:
    """Plain, deterministic machine agent; the Ray runtime hosts it unchanged."""

    def __init__(self, asset: MachineAsset) -> None:
        self.asset = asset
        self.freqs = asset.frequencies()
        self.iso = asset.iso_limits()
        th = asset.thresholds
        self.th = th
        self.limits: dict[str, Limit] = {}
        # Features judged by ISO 10816-3 zones, with the factor from their unit to mm/s.
        self.iso_keys: dict[str, float] = {}
        velocity = [s for s in asset.sensors if s.kind is SensorKind.VIBRATION_VELOCITY]
        for s in velocity:
            self.iso_keys[s.name] = _TO_MM_S[s.unit]
        if not velocity:
            # No velocity transmitter: judge the ISO-band velocity integrated from the waveforms.
            for s in asset.sensors:
                if s.kind is SensorKind.VIBRATION_ACCELERATION:
                    self.iso_keys[f"{s.name}.velocity_rms"] = 1.0
        for key in th.limits:
            self.iso_keys.pop(key, None)  # a declared limit overrides the zones
        for key, factor in self.iso_keys.items():
            self.limits[key] = Limit(amber=self.iso.b_c / factor, red=self.iso.c_d / factor)
        self.limits.update(th.limits)
        self.main = self._main_indicator()
        # Features that describe the machine's condition (not the process driving it, like load
        # or power): the anomaly score looks at these only.
        self.condition = {s.name for s in asset.sensors if s.kind in _CONDITION_KINDS} | {
            f"{s.name}.{feat}"
            for s in asset.sensors
            if s.kind is SensorKind.VIBRATION_ACCELERATION
            for feat in _WAVE_FEATURES
        }
        # Declared limits and ISO zones win where given; every other indicator drifts.
        ways = directions_for(asset.sensors, _WAVE_FEATURES)
        self.drift = DriftMonitor(th, {k: v for k, v in ways.items() if k not in self.limits})
        self.drift_red = not any(lim.red is not None for lim in self.limits.values())
        # Made once, read for every reading: sensor units, waveform feature keys.
        self._units = {s.name: s.unit for s in asset.sensors}
        self._wave_keys = [(s.name, f"{s.name}.rms", f"{s.name}.") for s in asset.sensors]
        # Bearing defect ratios can come only from acceleration waveforms' sensors.
        self._defect_keys = any(s.kind is SensorKind.VIBRATION_ACCELERATION for s in asset.sensors)
        self.seq = 0
        self.t0: datetime | None = None
        self.monitor = SensorFaultMonitor(asset.sensors, asset.sensor_checks)
        self.baseline = Baseline(
            readings=asset.commissioning_readings, hours=asset.commissioning_hours
        )
        self.tracker = _main_tracker(th)
        # Recent raw machine levels (ranks), enough for both the raise and the clear rule.
        self.raw: deque[int] = deque(maxlen=max(th.persistence, th.clear_after))
        self.status = Status.UNKNOWN
        self.held: dict[str, Status] = {}  # last level per limited feature, held while faulted
        self.defects: dict[str, tuple[int, list[str]]] = {}  # per waveform sensor: streak, texts
        self.recent: dict[str, deque[float]] = {}  # last values per feature, for anomaly scores
        self.anomalous = False
        # Latest waveform features per sensor, shown between captures.
        self.last_wave: dict[str, tuple[datetime, dict[str, float]]] = {}
        # Maintenance (``maintenance_done``): when it was, the baseline being re-learned for the
        # new part (the old one keeps judging until it is ready) and whether the next usable
        # reading sets the status afresh.
        self.maintained_at: datetime | None = None
        self.relearn: Baseline | None = None
        self.rejudge = False

    @property
    def asset_id(self) -> str:
        return self.asset.id

    def _main_indicator(self) -> str | None:
        """The degradation indicator trended for RUL: vibration velocity first, else a red limit."""
        sensors = self.asset.sensors
        for s in sensors:
            if s.kind is SensorKind.VIBRATION_VELOCITY and s.name in self.limits:
                return s.name
        for s in sensors:
            if s.kind is SensorKind.VIBRATION_ACCELERATION:
                return f"{s.name}.velocity_rms"
        return next((k for k, lim in self.limits.items() if lim.red is not None), None)

    # -- features ---------------------------------------------------------------------------------
    def _features(
        self, values: Mapping[str, float], waveforms: Mapping[str, Any]
    ) -> tuple[dict[str, float], dict[str, BearingDiagnosis], list[str]]:
        features = dict(values)
        diagnoses: dict[str, BearingDiagnosis] = {}
        problems: list[str] = []
        for s in self.asset.sensors:
            if s.name not in waveforms or s.sampling_hz is None:
                continue
            try:
                wf = waveform_features(waveforms[s.name], s.sampling_hz, s.unit)
                features[f"{s.name}.rms"] = wf.rms
                features[f"{s.name}.crest"] = wf.crest
                features[f"{s.name}.kurtosis"] = wf.kurtosis
                features[f"{s.name}.velocity_rms"] = wf.velocity_rms_mm_s
                if self.freqs is not None:
                    diag = diagnose(
                        waveforms[s.name],
                        s.sampling_hz,
                        self.freqs,
                        ratio_threshold=self.th.bearing_ratio,
                    )
                    diagnoses[s.name] = diag
                    features[f"{s.name}.defect_ratio"] = max(
                        (e.ratio for e in diag.evidence), default=0.0
                    )
            except (AutoopsError, ValueError, FloatingPointError) as exc:
                problems.append(f"{s.name}: features not computed ({exc})")
        return features, diagnoses, problems

    # -- maintenance ------------------------------------------------------------------------------
    def maintenance_done(self, time: datetime, *, recommission: bool = True) -> bool:
        """The machine was serviced (e.g. its bearing replaced) at ``time``; judge it afresh.

        Everything learned from the worn part goes: the trend window (so its RUL), the status
        persistence, held levels, confirmed defects and anomaly medians. The next usable reading
        sets the status like a new machine's first one. With ``recommission`` the baseline is
        learned again over the commissioning window from ``time``; the old baseline keeps judging
        until then, so the machine is never unjudged. Readings stamped at or before ``time`` are
        the old part's and feed neither. Returns False, changing nothing, for a message already
        applied (same or older time): a retried message must not restart commissioning.
        """
        if self.maintained_at is not None and time <= self.maintained_at:
            return False
        self.maintained_at = time
        self.tracker = _main_tracker(self.th)
        self.raw.clear()
        self.rejudge = True
        self.held, self.defects, self.recent, self.last_wave = {}, {}, {}, {}
        self.anomalous = False
        self.drift.reset()
        # The new part may read at a new level (a fresh bearing runs cooler): a step from the
        # old part's last value is the repair, not a broken instrument.
        for detector in self.monitor.detectors.values():
            detector.last_good = None
            detector.jump_run = 0
        if recommission:
            fresh = Baseline(
                readings=self.asset.commissioning_readings, hours=self.asset.commissioning_hours
            )
            fresh.start = time  # the window runs from the job, not from the first reading after
            if self.baseline.ready:
                self.relearn = fresh
            else:
                # Still commissioning: what was learned so far describes the old part.
                self.baseline, self.relearn = fresh, None
        return True

    def _maintenance_note(self, time: datetime, fit: TrendFit | None, closed: bool) -> str | None:
        if self.maintained_at is None or time <= self.maintained_at:
            return None
        at = self.maintained_at.isoformat()
        if closed:
            return f"baseline re-learned after maintenance at {at}"
        learning = self.relearn or (None if self.baseline.ready else self.baseline)
        if learning is not None:
            judged = "previous baseline meanwhile" if self.relearn else "limits only meanwhile"
            return (
                f"re-commissioning after maintenance at {at}: learning the new baseline "
                f"({learning.count} reading(s) so far), judged against the {judged}"
            )
        return f"trend restarted after maintenance at {at}" if fit is None else None

    # -- assessment -------------------------------------------------------------------------------
    def assess(self, reading: Reading) -> HealthReport:
        """Assess one reading; bad values become sensor faults, never exceptions."""
        step = self.begin(reading)
        report = self.finish(step, self.fit_trend(step))
        assert report is not None
        return report

    def fit_trend(self, step: Step) -> TrendFit | None:
        """The trend fit ``finish`` needs (``agents.machine_shard`` makes many in one pass)."""
        if step.fit_args is None:
            return None
        return self.tracker.fit(floor=step.fit_args[0], min_excess=step.fit_args[1])

    def begin(self, reading: Reading) -> Step:
        """First half of ``assess``: everything up to the trend fit of the main indicator."""
        seq = self.seq
        self.seq += 1
        if self.t0 is None:
            self.t0 = reading.time
        check = self.monitor.check(reading.time, reading.values, reading.waveforms)
        features, diagnoses, problems = self._features(check.values, check.waveforms)
        for name, rms_key, prefix in self._wave_keys:
            if rms_key in features:
                self.last_wave[name] = (
                    reading.time,
                    {k: v for k, v in features.items() if k.startswith(prefix)},
                )
        b = ReportBuilder(
            self.asset,
            self.iso,
            self.limits,
            features,
            check,
            seq,
            reading.time,
            self._units,
            defect_keys=self._defect_keys,
        )
        b.last_wave = self.last_wave
        b.notes.extend(problems)
        for name, diag in diagnoses.items():
            assert self.freqs is not None  # a diagnosis exists only when frequencies are known
            # A defect counts once seen in `persistence` waveforms in a row; it is then held
            # between waveforms, which come less often than the scalar readings.
            streak = self.defects.get(name, (0, []))[0] + 1 if diag.faulty else 0
            texts = bearing_findings(name, diag, self.freqs)
            self.defects[name] = (streak, texts if streak >= self.th.persistence else [])
        for _, confirmed in self.defects.values():
            b.bearing(confirmed)

        # Fixed limits: ISO zones and declared levels, held over while the sensor is faulted.
        for key, limit in self.limits.items():
            if key in features:
                self.held[key] = _level(features[key], limit)
                zone = None
                if key in self.iso_keys and features[key] >= 0:
                    mm_s = features[key] * self.iso_keys[key]
                    zone = classify(mm_s, self.asset.machine_group, self.asset.foundation)
                b.limit(key, features[key], limit, self.held[key], zone)
            elif key in self.held:
                b.held(key, self.held[key])

        # Baseline, anomaly, trend and RUL.
        anomaly: float | None = None
        top: tuple[str, float] | None = None
        main_z: float | None = None
        after_job = self.maintained_at is None or reading.time > self.maintained_at
        closed = False
        if self.relearn is not None and after_job and self.relearn.add(reading.time, features):
            # The new part's baseline is ready: it judges from this reading on.
            self.baseline, self.relearn, self.recent, closed = self.relearn, None, {}, True
        if not self.baseline.ready:
            if after_job:  # an old part's reading is no part of the new part's commissioning
                self.baseline.add(reading.time, features)
        else:
            # Score the median of the last few values: one odd reading is not an anomaly.
            recent = self.recent
            for key, value in features.items():
                if key in self.condition:
                    window = recent.get(key)
                    if window is None:
                        window = recent[key] = deque(maxlen=_ANOMALY_WINDOW)
                    window.append(value)
            # The anomaly describes the asset, not which sensors spoke this reading: every
            # condition feature counts with its latest known median (a waveform captured every
            # other reading would otherwise count every other reading: a score that alternates).
            z = self.baseline.z(
                {k: small_median(v) for k, v in self.recent.items() if k in self.condition}
            )
            if z:
                top = max(z.items(), key=lambda kv: abs(kv[1]))
                anomaly = abs(top[1])
            # The main feature's anomaly (it sets the status) is judged on its own readings only.
            main_z = z.get(self.main) if self.main is not None and self.main in features else None
        drifts = []
        if self.baseline.ready and after_job and not check.out_of_order:
            drifts = self.drift.update(
                self._hours(reading.time), features, self.baseline, allow_red=self.drift_red
            )
        main_now = features.get(self.main) if self.main is not None else None
        if main_now is not None and not check.out_of_order and after_job:
            self.tracker.add(self._hours(reading.time), main_now)
        fit_args = None
        if self.baseline.ready and self.main is not None:
            floor = self.baseline.median.get(self.main)
            fit_args = (floor, 2.0 * self.baseline.scale.get(self.main, 0.0))
        return Step(
            reading, check, features, b, anomaly, top, main_z, after_job, closed, drifts, fit_args
        )

    def finish(
        self, step: Step, fit: TrendFit | None, *, build: bool = True
    ) -> HealthReport | None:
        """Second half of ``assess``, given the trend fit; the report unless ``build`` is False.

        Without ``build`` the state moves on exactly as with it and ``step.signature`` tells
        what a report would have said (status, indicator levels, faults); nothing is built.
        """
        reading, check, features, b = step.reading, step.check, step.features, step.builder
        anomaly, top, main_z, after_job = step.anomaly, step.top, step.main_z, step.after_job
        drifts = step.drifts
        rul = None
        if step.fit_args is not None and self.main is not None:
            red_at = self.limits[self.main].red if self.main in self.limits else None
            if red_at is not None:
                rul = estimate_rul(
                    fit, red_at, min_t=self.th.rising_t, horizon_h=self.th.rul_horizon_h
                )
                # The fit lags a curve that bends upward; what was just measured wins.
                if self.tracker.recent_level() >= red_at:
                    rul = RulEstimate(value=0, lower=0, upper=0, method="at the red limit now")
        # Hysteresis: an anomaly starts at anomaly_z with a clear rise and lasts until the score
        # falls to half of that or the rise is gone, so the status does not flicker at the edge.
        # It is judged on the trended indicator itself: a hot bearing during a heavy job is the
        # process, a vibration level far above this machine's own baseline and rising is wear.
        t_stat = fit.t_stat if fit is not None else 0.0
        if main_z is not None and main_z >= self.th.anomaly_z and t_stat >= self.th.rising_t:
            self.anomalous = True
        elif main_z is None or main_z < 0.5 * self.th.anomaly_z or t_stat < 1.0:
            self.anomalous = False
        b.anomaly(
            anomaly, top, self.th.anomaly_z, fit, self.main, main_z if self.anomalous else None
        )
        b.drift(drifts)
        unknown = ""
        if rul is None and drifts and (self.main is None or self.main not in self.limits):
            rul, unknown = rul_from_drifts(drifts, self.th)
        b.rul(rul, self.th.amber_rul_h, self.th.red_rul_h, unknown)
        note = self._maintenance_note(reading.time, fit, step.closed)
        if note is not None:
            b.findings.append(note)
            b.context.append(note)

        raw = b.level()
        self.raw.append(raw.rank)
        self._settle(bool(features) or bool(self.held), after_job)
        instrument = check.instrument_streak >= self.th.persistence
        status = Status.worst(self.status, Status.AMBER if instrument else Status.GREEN)
        if self.status is Status.UNKNOWN and not instrument:
            status = Status.UNKNOWN
        step.signature = b.signature(status, instrument, self.baseline.ready)
        step.outcome = {
            "status": status,
            "machine_status": self.status,
            "instrument": instrument,
            "anomaly": anomaly,
            "rul": rul,
            "baseline_ready": self.baseline.ready,
        }
        return self.report(step) if build else None

    @staticmethod
    def report(step: Step) -> HealthReport:
        """The report of a step ``finish`` has run (built only when someone will read it)."""
        return step.builder.build(**step.outcome)

    def _settle(self, have_data: bool, after_job: bool = True) -> None:
        """Raise the status after ``persistence`` readings agree, lower it after ``clear_after``."""
        if not have_data and self.status is Status.UNKNOWN:
            return
        ranks = _BY_RANK
        raw = list(self.raw)
        if self.rejudge and have_data and after_job:
            # After maintenance the old evidence is void: the new part's first usable reading
            # decides (not an older reading of the worn part that arrived late).
            self.rejudge = False
            self.status = ranks[max(raw[-1], Status.GREEN.rank)]
            return
        if self.status is Status.UNKNOWN:
            # First usable data: start from the mildest level seen so far.
            self.status = ranks[max(min(raw), Status.GREEN.rank)]
            return
        recent = raw[-self.th.persistence :]
        if len(recent) == self.th.persistence and min(recent) > self.status.rank:
            self.status = ranks[min(recent)]
        elif len(raw) >= self.th.clear_after and max(raw) < self.status.rank:
            self.status = ranks[max(max(raw), Status.GREEN.rank)]

    def _hours(self, time: datetime) -> float:
        assert self.t0 is not None
        return (time - self.t0).total_seconds() / 3600.0

    # -- state ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Baseline, trend, detectors, status and sequence number, as JSON-able data."""
        return machine_state.snapshot(self)

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Resume from ``snapshot()`` of an agent for the same asset."""
        machine_state.restore(self, snapshot)


__all__ = ["Limit", "MachineAgent", "MachineAsset", "MachineThresholds"]
