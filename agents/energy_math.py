"""The arithmetic behind the energy agent: baselines, spike attribution, replacement payback.

Plain functions on plain numbers so that each can be checked by hand; ``agents/energy.py`` keeps
the state and builds the reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from agents.errors import ModelError
from agents.models import Frozen, HealthReport

MAD_TO_SIGMA = 1.4826  # MAD x this = standard deviation for normal residuals


class Baseline(Frozen):
    """kW = intercept + slope · driver, learnt in commissioning; ``scale`` is the robust residual σ."""

    intercept: float
    slope: float
    scale: float
    points: int

    def predict(self, driver: float) -> float:
        return self.intercept + self.slope * driver


def fit_baseline(drivers: Sequence[float], kw: Sequence[float]) -> Baseline:
    """Least-squares line through (driver, kW); a constant when the driver hardly varied.

    The residual scale is the MAD (x 1.4826) with a floor, so that a meter which was perfectly
    steady in commissioning does not call every later watt a spike.
    """
    x = np.asarray(drivers, dtype=float)
    y = np.asarray(kw, dtype=float)
    if x.size < 2 or x.size != y.size:
        raise ModelError(
            f"an energy baseline needs at least 2 (driver, kW) pairs of equal length; got "
            f"{x.size} drivers and {y.size} powers: extend the commissioning window"
        )
    if float(np.ptp(x)) <= 1e-9 * max(1.0, float(np.abs(x).max())):
        intercept, slope = float(np.mean(y)), 0.0
    else:
        design = np.column_stack([np.ones_like(x), x])
        (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    residuals = y - (intercept + slope * x)
    mad = float(np.median(np.abs(residuals - np.median(residuals))))
    floor = max(0.005 * float(np.mean(np.abs(y))), 0.05)
    return Baseline(
        intercept=float(intercept),
        slope=float(slope),
        scale=max(MAD_TO_SIGMA * mad, floor),
        points=int(x.size),
    )


class Payback(Frozen):
    """What replacing a compressor is worth per year, and how soon its price comes back."""

    specific_power_now: float  # kW per m³/min
    specific_power_new: float
    mean_flow: float  # m³/min while running
    operating_hours_per_year: float
    tariff_per_kwh: float
    price: float
    annual_saving_kwh: float
    annual_saving: float  # currency per year
    payback_years: float | None  # None when the new machine would not save anything


def replacement_payback(
    *,
    specific_power_now: float,
    specific_power_new: float,
    mean_flow: float,
    operating_hours_per_year: float,
    tariff_per_kwh: float,
    price: float,
) -> Payback:
    """Saving = (SP now − SP new) · flow · hours · tariff per year; payback = price / saving."""
    saving_kwh = (specific_power_now - specific_power_new) * mean_flow * operating_hours_per_year
    saving = saving_kwh * tariff_per_kwh
    return Payback(
        specific_power_now=specific_power_now,
        specific_power_new=specific_power_new,
        mean_flow=mean_flow,
        operating_hours_per_year=operating_hours_per_year,
        tariff_per_kwh=tariff_per_kwh,
        price=price,
        annual_saving_kwh=saving_kwh,
        annual_saving=saving,
        payback_years=price / saving if saving > 0 else None,
    )


class Attribution(Frozen):
    """Which sub-meter explains a plant-level spike; ``meter_id`` None = unmetered load."""

    meter_id: str | None
    excess_kw: float  # the chosen sub-meter's sudden excess over its own baseline
    plant_excess_kw: float
    share: float  # of the plant's excess, 0..1 (can exceed 1 if other meters fell)

    def describe(self, plant_id: str) -> str:
        if self.meter_id is None:
            return (
                f"no sub-meter explains the {self.plant_excess_kw:.0f} kW spike on {plant_id} "
                f"(largest share {100 * self.share:.0f}%): look at unmetered load"
            )
        return (
            f"spike of {self.plant_excess_kw:.0f} kW on {plant_id} comes from {self.meter_id} "
            f"(+{self.excess_kw:.0f} kW over its own baseline, {100 * self.share:.0f}% of it)"
        )


def attribute_spike(
    plant_excess_kw: float, sub_excess_kw: Mapping[str, float], *, min_share: float = 0.5
) -> Attribution:
    """Pick the sub-meter with the largest excess; it must explain ``min_share`` of the plant's."""
    finite = {k: v for k, v in sub_excess_kw.items() if v is not None and math.isfinite(v)}
    if not finite or plant_excess_kw <= 0:
        return Attribution(meter_id=None, excess_kw=0.0, plant_excess_kw=plant_excess_kw, share=0.0)
    meter, excess = max(finite.items(), key=lambda kv: kv[1])
    share = excess / plant_excess_kw
    return Attribution(
        meter_id=meter if share >= min_share else None,
        excess_kw=excess,
        plant_excess_kw=plant_excess_kw,
        share=share,
    )


def attribute_reports(
    plant: HealthReport, subs: Iterable[HealthReport], *, min_share: float = 0.5
) -> Attribution:
    """``attribute_spike`` on energy reports, using their ``sudden_excess_kw`` indicators.

    The *sudden* excess (now against the meter's recent level over its baseline) is used rather
    than the total excess, so that a compressor that has drifted for weeks does not take the blame
    for another meter's spike this hour.
    """

    def sudden(report: HealthReport) -> float | None:
        indicator = report.indicator("sudden_excess_kw")
        return indicator.value if indicator else None

    plant_excess = sudden(plant) or 0.0
    excess = {r.asset_id: v for r in subs if (v := sudden(r)) is not None}
    return attribute_spike(plant_excess, excess, min_share=min_share)


__all__ = [
    "Attribution",
    "Baseline",
    "Payback",
    "attribute_reports",
    "attribute_spike",
    "fit_baseline",
    "replacement_payback",
]
