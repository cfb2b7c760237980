"""Words and numbers of a machine ``HealthReport``: indicators, findings, health score, summary.

``MachineAgent`` decides; this module records each piece of evidence once (as an indicator, a
finding, and a reason for a status level) so the status, the score and the summary agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agents.bearing import BearingDiagnosis, DefectFrequencies
from agents.drift import Drift
from agents.iso10816 import Zone, ZoneLimits
from agents.models import AssetKind, HealthReport, Indicator, RulEstimate, SensorKind, Status
from agents.sensor_faults import FaultCheck
from agents.trend import TrendFit

if TYPE_CHECKING:
    from agents.machine_config import Limit, MachineAsset

#: Units of derived waveform features (the features are computed in SI units).
_FEATURE_UNITS = {
    "rms": "m/s2",
    "crest": "",
    "kurtosis": "",
    "velocity_rms": "mm/s",
    "defect_ratio": "x background",
}
_MULTIPLE_NAMES = {"outer_race": "BPFO", "inner_race": "BPFI", "ball": "BSF", "cage": "FTF"}


#: ``Indicator``'s field defaults (pydantic's ``model_fields`` is slow to reach per reading).
_DEFAULTS: dict[str, Any] = {name: f.default for name, f in Indicator.model_fields.items()}
_DEFAULT_STATUS = _DEFAULTS["status"]


class _Pending:
    """An indicator's fields, made into an ``Indicator`` only when a report is built.

    A shard publishing on change builds few reports; validating every indicator of every
    reading cost a tenth of an assessment. Reads like an ``Indicator`` (defaults included).
    """

    __slots__ = ("fields",)

    def __init__(self, **fields: object) -> None:
        self.fields = fields

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            if name in _DEFAULTS:
                return _DEFAULTS[name]
            raise AttributeError(name) from None

    def status_of(self) -> Status:
        """``.status`` without the attribute fallback (``signature`` asks it of every reading)."""
        return self.fields.get("status", _DEFAULT_STATUS)  # type: ignore[return-value]

    def made(self) -> Indicator:
        return Indicator(**self.fields)  # type: ignore[arg-type]


def _indicator(**fields: object) -> Any:
    return _Pending(**fields)


class ReportBuilder:
    """Collects the evidence of one assessment and turns it into a ``HealthReport``."""

    def __init__(
        self,
        asset: MachineAsset,
        iso: ZoneLimits,
        limits: Mapping[str, Limit],
        features: Mapping[str, float],
        check: FaultCheck,
        seq: int,
        time: datetime,
        units: Mapping[str, str] | None = None,
        *,
        defect_keys: bool = True,
    ) -> None:
        self.asset = asset
        self.iso = iso
        self.limits = limits
        self.features = features
        self.check = check
        self.seq = seq
        self.time = time
        # The sensors' units (an agent passes its own map: made once, read-only here).
        self.units = {s.name: s.unit for s in asset.sensors} if units is None else units
        # False: the asset has no acceleration sensor, so no ``.defect_ratio`` feature to list.
        self.defect_keys = defect_keys
        self.judged: dict[str, Indicator] = {}
        self.extra: list[Indicator] = []
        self.findings: list[str] = []
        self.reasons: dict[Status, list[str]] = {Status.AMBER: [], Status.RED: []}
        self.notes: list[str] = []
        self.context: list[str] = []  # what the machine is going through (re-commissioning)
        self.scores: list[float] = [1.0]
        self.last_wave: Mapping[str, tuple[datetime, Mapping[str, float]]] = {}

    def unit(self, key: str) -> str:
        if key in self.units:
            return self.units[key]
        return _FEATURE_UNITS.get(key.split(".", 1)[-1], "")

    # -- evidence -----------------------------------------------------------------------------------
    def limit(self, key: str, value: float, limit: Limit, level: Status, zone: Zone | None) -> None:
        unit = self.unit(key)
        note = f"ISO 10816-3 zone {zone.value}" if zone is not None else ""
        self.judged[key] = _indicator(
            name=key,
            value=round(value, 4),
            unit=unit,
            amber_at=limit.amber,
            red_at=limit.red,
            status=level,
            note=note,
        )
        if zone is not None:
            self.scores.append(_iso_score(value, self.iso))
        elif level is not Status.GREEN:
            self.scores.append(0.6 if level is Status.AMBER else 0.3)
        if level is Status.GREEN:
            return
        edge = limit.red if level is Status.RED else limit.amber
        what = note or "declared limit"
        text = f"{what}: {key} {value:.2f} {unit} at or above {edge:g} {unit}".replace("  ", " ")
        self.findings.append(text)
        self.reasons[level].append(text)

    def held(self, key: str, level: Status) -> None:
        if level is not Status.GREEN:
            self.reasons[level].append(f"{key} last seen {level.value} (sensor withheld)")

    def bearing(self, texts: list[str]) -> None:
        """Confirmed bearing defects (see ``bearing_findings``) count as amber evidence."""
        for text in texts:
            self.findings.append(text)
            self.reasons[Status.AMBER].append(text)
            self.scores.append(0.6)

    def anomaly(
        self,
        score: float | None,
        top: tuple[str, float] | None,
        threshold: float,
        fit: TrendFit | None,
        main: str | None,
        main_z: float | None,
    ) -> None:
        """Anomaly score and trend indicators; ``main_z`` given when the anomaly is active."""
        if score is not None:
            self.extra.append(
                _indicator(
                    name="anomaly_score",
                    value=round(score, 3),
                    unit="robust z",
                    amber_at=threshold,
                    status=Status.GREEN,
                    note=f"largest deviation from baseline: {top[0]}" if top else "",
                )
            )
            self.scores.append(1.0 / (1.0 + max(0.0, score - 3.0) / threshold))
        if fit is not None and main is not None:
            rate = fit.slope if fit.model == "linear" else fit.slope * (fit.level - fit.floor)
            self.extra.append(
                _indicator(
                    name=f"{main}.trend",
                    value=round(rate, 5),
                    unit=f"{self.unit(main)}/h",
                    note=f"{fit.model} fit over {fit.span_h:.0f} h, t={fit.t_stat:.1f}",
                )
            )
        if main_z is not None and fit is not None:
            text = (
                f"anomaly: {main} {main_z:+.1f} robust z above this machine's baseline and rising "
                f"({fit.model} trend, t={fit.t_stat:.1f})"
            )
            self.findings.append(text)
            self.reasons[Status.AMBER].append(text)

    def drift(self, drifts: list[Drift]) -> None:
        """Indicators departing from their baseline: amber (red by the drift red rule), named."""
        for d in sorted(drifts, key=lambda d: -abs(d.z)):
            level = Status.RED if d.red else Status.AMBER
            unit = self.unit(d.feature)
            self.extra.append(
                _indicator(
                    name=f"{d.feature}.drift",
                    value=round(d.z, 3),
                    unit="robust z",
                    status=level,
                    note=f"{d.word} from baseline {d.baseline:.4g} to {d.level:.4g} {unit}".rstrip(),
                )
            )
            text = (
                f"departure from baseline: {d.feature} {d.word}, {d.z:+.1f} robust z from this "
                f"machine's commissioning level ({d.baseline:.4g} -> {d.level:.4g} {unit}".rstrip()
                + f"), trend t={d.t_stat:.1f}"
                + (", far beyond the amber excursion and still growing" if d.red else "")
            )
            self.findings.append(text)
            self.reasons[level].append(text)
            self.scores.append(0.3 if d.red else 0.6)

    def rul(self, rul: RulEstimate | None, amber_h: float, red_h: float, unknown: str = "") -> None:
        level = Status.GREEN
        if rul is not None:
            level = (
                Status.RED if rul.value < red_h else Status.AMBER if rul.value < amber_h else level
            )
            self.scores.append(min(1.0, rul.value / (2.0 * amber_h)))
        self.extra.append(
            _indicator(
                name="rul",
                value=rul.value if rul else None,
                unit="h",
                amber_at=amber_h,
                red_at=red_h,
                status=level,
                note=unknown or "remaining useful life; lower is worse",
            )
        )
        if rul is not None and level is not Status.GREEN:
            text = f"RUL {rul.value:.0f} h ({rul.lower:.0f}-{rul.upper:.0f} h) below {amber_h if level is Status.AMBER else red_h:g} h"
            self.findings.append(text)
            self.reasons[level].append(text)

    def level(self) -> Status:
        """The machine's level from this reading alone (before persistence)."""
        if self.reasons[Status.RED]:
            return Status.RED
        if self.reasons[Status.AMBER]:
            return Status.AMBER
        return Status.GREEN if (self.features or self.judged) else Status.UNKNOWN

    def signature(
        self, status: Status, instrument: bool, baseline_ready: bool
    ) -> tuple[object, ...]:
        """What the report would say that a consumer acts on, without building it.

        Status, every indicator's level, the sensor faults (sensor, kind), how many findings
        stand behind amber and red, whether the instrument is suspect and the baseline ready.
        Two readings with the same signature differ only in numbers within the same levels:
        a shard publishing on change sends the second one only as a heartbeat.
        """
        defects: tuple[str, ...] = ()
        if self.defect_keys:
            at = self.asset.thresholds.bearing_ratio
            ratios: Mapping[str, float] = self.features
            if self.last_wave:  # the waveforms' features held between captures, then this one's
                merged = {k: v for _, held in self.last_wave.values() for k, v in held.items()}
                merged.update(self.features)
                ratios = merged
            defects = tuple(k for k, v in ratios.items() if k.endswith(".defect_ratio") and v >= at)
        return (
            status,
            defects,
            tuple((k, i.status_of()) for k, i in self.judged.items()),
            tuple((i.fields["name"], i.status_of()) for i in self.extra),
            tuple(sorted((f.sensor, f.kind) for f in self.check.faults)),
            len(self.reasons[Status.AMBER]),
            len(self.reasons[Status.RED]),
            instrument,
            baseline_ready,
        )

    # -- report -------------------------------------------------------------------------------------
    def _feature(self, key: str, value: float, note: str = "") -> Indicator:
        """A waveform feature; the defect ratio carries the bearing threshold it is judged on."""
        if key.endswith(".defect_ratio"):
            at = self.asset.thresholds.bearing_ratio
            level = Status.AMBER if value >= at else Status.GREEN
            return _indicator(
                name=key,
                value=round(value, 4),
                unit=self.unit(key),
                amber_at=at,
                status=level,
                note=note or "strongest bearing defect line over its background",
            )
        return _indicator(name=key, value=round(value, 4), unit=self.unit(key), note=note)

    def _indicators(self) -> tuple[Indicator, ...]:
        out: list[Indicator] = []
        for s in self.asset.sensors:
            if s.kind is not SensorKind.VIBRATION_ACCELERATION:
                if s.name in self.judged:
                    out.append(self.judged[s.name])
                elif s.name in self.features:
                    v = self.features[s.name]
                    out.append(_indicator(name=s.name, value=round(v, 4), unit=s.unit))
                else:
                    kinds = sorted({f.kind.value for f in self.check.faults if f.sensor == s.name})
                    note = f"withheld: {', '.join(kinds)}" if kinds else "no value"
                    out.append(_indicator(name=s.name, value=None, unit=s.unit, note=note))
                continue
            captured, held = self.last_wave.get(s.name, (None, {}))
            for feat in _FEATURE_UNITS:
                key = f"{s.name}.{feat}"
                if key in self.judged:
                    out.append(self.judged[key])
                elif key in self.features:
                    out.append(self._feature(key, self.features[key]))
                elif key in held and captured is not None:
                    out.append(
                        self._feature(
                            key, held[key], f"from the waveform of {captured.isoformat()}"
                        )
                    )
        return tuple(i.made() if isinstance(i, _Pending) else i for i in (*out, *self.extra))

    def build(
        self,
        *,
        status: Status,
        machine_status: Status,
        instrument: bool,
        anomaly: float | None,
        rul: RulEstimate | None,
        baseline_ready: bool,
    ) -> HealthReport:
        score = max(0.0, min(1.0, min(self.scores)))
        if machine_status is Status.RED:
            score = min(score, 0.39)
        elif machine_status is Status.AMBER:
            score = min(score, 0.69)
        return HealthReport(
            report_id=HealthReport.make_id(self.asset.id, self.seq),
            asset_id=self.asset.id,
            asset_kind=AssetKind.MACHINE,
            seq=self.seq,
            time=self.time,
            status=status,
            health_score=round(score, 4),
            indicators=self._indicators(),
            anomaly_score=None if anomaly is None else round(anomaly, 3),
            rul=rul,
            sensor_faults=self.check.faults,
            findings=tuple(self.findings),
            baseline_ready=baseline_ready,
            summary=self._summary(status, machine_status, instrument, baseline_ready),
        )

    def _summary(
        self, status: Status, machine: Status, instrument: bool, baseline_ready: bool
    ) -> str:
        parts: list[str] = []
        if machine in self.reasons and self.reasons[machine]:
            parts.extend(self.reasons[machine][:2])
        elif machine in (Status.AMBER, Status.RED):
            parts.append(f"machine still {machine.value} from recent readings")
        elif machine is Status.UNKNOWN:
            parts.append("no usable readings yet")
        else:
            judged = list(self.judged.values())
            main = next(
                (i for i in judged if i.note.startswith("ISO")), judged[0] if judged else None
            )
            if main is None or main.value is None:
                parts.append("healthy")
            else:
                note = f" ({main.note})" if main.note else ""
                parts.append(f"healthy: {main.name} {main.value:.2f} {main.unit}{note}")
        if instrument:
            bad = sorted({(f.sensor, f.kind.value) for f in self.check.faults})
            parts.append("check the instrument: " + ", ".join(f"{s} {k}" for s, k in bad[:3]))
        if not baseline_ready:
            parts.append("learning baseline")
        parts.extend(self.context)
        parts.extend(self.notes[:1])
        return f"{status.value}: " + "; ".join(parts)


def bearing_findings(sensor: str, diag: BearingDiagnosis, freqs: DefectFrequencies) -> list[str]:
    """Words for each defect found: 'outer race defect on acc: envelope peak at 1x BPFO ...'."""
    texts = []
    for f in diag.findings:
        base = _MULTIPLE_NAMES[f.kind.value]
        multiple = max(1, round(f.expected_hz / getattr(freqs, base.lower())))
        texts.append(
            f"{f.kind.label.split(' (')[0]} on {sensor}: envelope peak at {multiple}x {base} "
            f"({f.frequency_hz:.1f} Hz), {f.ratio:.1f}x background, "
            f"{f.harmonics_found} harmonic(s)"
        )
    return texts


def _iso_score(v: float, iso: ZoneLimits) -> float:
    """1.0 at rest, 0.7 at the B/C edge, 0.4 at the C/D edge, 0 at 1.6x the C/D edge."""
    if not math.isfinite(v):
        return 0.0
    if v <= iso.b_c:
        return 1.0 - 0.3 * v / iso.b_c
    if v <= iso.c_d:
        return 0.7 - 0.3 * (v - iso.b_c) / (iso.c_d - iso.b_c)
    return max(0.0, 0.4 - 0.4 * (v - iso.c_d) / (0.6 * iso.c_d))
