from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from agents.base import Agent, Reading
from agents.energy import CompressorSpec, EnergyMeter, EnergySystem, MeterAgent, MeterKind
from agents.energy_math import (
    attribute_spike,
    fit_baseline,
    replacement_payback,
)
from agents.energy_plant import PlantEnergyAgent
from agents.errors import ConfigError, ModelError
from agents.models import AssetKind, FaultKind, Status

T0 = datetime(2026, 4, 6, tzinfo=UTC)


def at(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def line_meter(**overrides: object) -> EnergyMeter:
    fields: dict[str, object] = dict(meter_id="SM-A", commissioning_h=24, rated_kw=300.0)
    fields.update(overrides)
    return EnergyMeter.model_validate(fields)


def compressor(**overrides: object) -> EnergyMeter:
    fields: dict[str, object] = dict(
        meter_id="C-1",
        kind="compressor",
        commissioning_h=24,
        smoothing_h=1.0,
        drift_sustain_h=12,
        compressor=CompressorSpec(
            replacement_specific_power=5.0,
            replacement_price=20000,
            tariff_per_kwh=0.2,
            operating_hours_per_year=5000,
        ),
    )
    fields.update(overrides)
    return EnergyMeter.model_validate(fields)


def rate_at(h: int) -> float:
    return 50.0 + 10.0 * (h % 6)  # 50..100 units/h, varied so the slope can be learnt


def wobble(h: int) -> float:
    return 0.3 * math.sin(1.7 * h)  # small deterministic noise


def commission_line(agent: MeterAgent, hours: int = 30):
    report = None
    for h in range(hours):
        x = rate_at(h)
        report = agent.assess(
            Reading("SM-A", at(h), {"power": 20 + 0.5 * x + wobble(h), "production_rate": x})
        )
    return report


def test_baseline_fit_matches_hand_computation() -> None:
    base = fit_baseline([0, 10, 20], [10, 30, 50])
    assert (base.intercept, base.slope) == pytest.approx((10.0, 2.0))
    assert base.predict(15) == pytest.approx(40.0)
    flat = fit_baseline([5, 5, 5, 5], [11, 9, 10, 10])  # driver never moved: a constant
    assert (flat.intercept, flat.slope) == pytest.approx((10.0, 0.0))
    with pytest.raises(ModelError, match="commissioning window"):
        fit_baseline([1.0], [2.0])


def test_payback_matches_hand_computation() -> None:
    # (7.5 - 5.5) kW/(m3/min) * 10 m3/min * 6000 h = 120 000 kWh; * 0.20 = 24 000 a year
    pay = replacement_payback(
        specific_power_now=7.5,
        specific_power_new=5.5,
        mean_flow=10,
        operating_hours_per_year=6000,
        tariff_per_kwh=0.2,
        price=36000,
    )
    assert pay.annual_saving_kwh == pytest.approx(120_000)
    assert pay.annual_saving == pytest.approx(24_000)
    assert pay.payback_years == pytest.approx(1.5)
    worse = replacement_payback(
        specific_power_now=5.0,
        specific_power_new=5.5,
        mean_flow=10,
        operating_hours_per_year=6000,
        tariff_per_kwh=0.2,
        price=1,
    )
    assert worse.payback_years is None


def test_attribution_picks_largest_excess_or_says_unmetered() -> None:
    pick = attribute_spike(60.0, {"SM-A": 2.0, "SM-B": 55.0, "C-1": 4.0})
    assert pick.meter_id == "SM-B" and pick.share == pytest.approx(55 / 60)
    assert "SM-B" in pick.describe("M-0")
    nobody = attribute_spike(60.0, {"SM-A": 5.0, "SM-B": 8.0})
    assert nobody.meter_id is None and "unmetered" in nobody.describe("M-0")


def test_line_meter_learns_its_baseline_then_reports_against_it() -> None:
    agent = MeterAgent(line_meter())
    assert isinstance(agent, Agent)
    first = agent.assess(Reading("SM-A", at(-1), {"power": 50.0, "production_rate": 60.0}))
    assert first.asset_kind is AssetKind.ENERGY and not first.baseline_ready
    report = commission_line(agent)
    assert report.baseline_ready and report.status is Status.GREEN
    # kW = 20 + 0.5 * rate; rate at h=29 is 100 -> 70 kW, 0.70 kWh/unit
    assert report.indicator("baseline_kw").value == pytest.approx(70.0, abs=0.3)
    assert report.indicator("baseline_energy_per_unit").value == pytest.approx(0.70, abs=0.01)
    assert report.indicator("energy_per_unit").unit == "kWh/unit"


def test_one_spike_is_flagged_and_does_not_move_the_baseline() -> None:
    agent = MeterAgent(line_meter())
    commission_line(agent)
    spike = agent.assess(
        Reading("SM-A", at(30), {"power": 20 + 0.5 * 50 + 40, "production_rate": 50})
    )
    assert spike.status is Status.AMBER
    assert spike.indicator("sudden_excess_kw").value == pytest.approx(40.0, abs=1.0)
    assert any("SM-A spike" in f for f in spike.findings)
    calm = agent.assess(Reading("SM-A", at(31), {"power": 20 + 0.5 * 60, "production_rate": 60}))
    assert calm.status is Status.GREEN
    assert abs(calm.indicator("sudden_excess_kw").value) < 1.0


def test_a_lasting_step_becomes_the_new_level() -> None:
    agent = MeterAgent(line_meter(smoothing_h=2.0))
    commission_line(agent)
    statuses = []
    for h in range(30, 60):
        x = rate_at(h)
        r = agent.assess(Reading("SM-A", at(h), {"power": 60 + 0.5 * x, "production_rate": x}))
        statuses.append(r.status)
        if h == 30:
            first = r
    assert statuses[0] is Status.AMBER and any("spike" in f for f in first.findings)
    # no longer a spike but a new level: reported as lasting excess over the baseline instead
    assert r.indicator("spike_z").status is Status.GREEN
    assert not any("spike" in f for f in r.findings)
    assert r.status is Status.RED and any("more energy than its baseline" in f for f in r.findings)


def feed_compressor(agent: MeterAgent, hours: range, sp: Callable[[int], float] | float):
    for h in hours:
        flow = 5.0 if h % 2 else 10.0
        kw = (sp(h) if callable(sp) else sp) * flow * (1 + 0.002 * math.sin(h))
        yield h, agent.assess(Reading("C-1", at(h), {"power": kw, "flow": flow}))


def ramp(start: int, pct_per_h: float, top: float) -> Callable[[int], float]:
    """Specific power 6.0 creeping up from ``start`` by ``pct_per_h`` until ``top`` % (gradual wear)."""
    return lambda h: 6.0 * (1 + min(top, max(0.0, (h - start) * pct_per_h)) / 100)


def test_compressor_drift_turns_amber_only_when_sustained() -> None:
    agent = MeterAgent(compressor())
    list(feed_compressor(agent, range(0, 30), 6.0))
    drifted = list(feed_compressor(agent, range(30, 90), ramp(30, 0.75, 15.0)))
    assert not any(r.indicator("spike_z").status is Status.AMBER for _, r in drifted)
    crossed = next(h for h, r in drifted if r.indicator("drift_pct").value >= 10.0)
    first_amber = next(h for h, r in drifted if r.status is Status.AMBER)
    assert first_amber == crossed + 12  # above 10 % for the 12 h sustain, not at the first hour
    last = drifted[-1][1]
    assert last.indicator("drift_pct").value == pytest.approx(15.0, abs=0.5)
    assert last.indicator("specific_power").value == pytest.approx(6.9, abs=0.05)
    # payback by hand: (6.9 - 5.0) * 7.5 m3/min mean * 5000 h * 0.2 = 14 250 a year -> 1.40 years
    assert last.indicator("payback_years").value == pytest.approx(20000 / 14250, rel=0.02)
    finding = next(f for f in last.findings if f.startswith("compressor C-1"))
    assert "draws 15% more kW per m³/min than its baseline" in finding
    assert "pays back in 1.4 years" in finding
    back = list(feed_compressor(agent, range(90, 130), ramp(90, -0.75, 15.0)))
    assert back[-1][1].status is Status.GREEN


def test_short_excursion_above_threshold_stays_green() -> None:
    agent = MeterAgent(compressor())
    list(feed_compressor(agent, range(0, 30), 6.0))

    def up_and_down(h: int) -> float:  # 0.75 %/h up to 13 % at h=50, back down by h=67
        return 6.0 * (1 + max(0.0, 13.0 - 0.75 * abs(h - 50)) / 100)

    excursion = list(feed_compressor(agent, range(30, 80), up_and_down))
    above = [h for h, r in excursion if r.indicator("drift_pct").value >= 10.0]
    assert 0 < len(above) < 12
    assert all(r.status is Status.GREEN for _, r in excursion)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -3.0, 10_000.0])
def test_bad_power_is_a_sensor_fault_and_the_agent_keeps_going(bad: float) -> None:
    agent = MeterAgent(line_meter())
    commission_line(agent)
    report = agent.assess(Reading("SM-A", at(30), {"power": bad, "production_rate": 60}))
    assert [f.sensor for f in report.sensor_faults] == ["power"]
    assert report.sensor_faults[0].kind in (FaultKind.NAN, FaultKind.OUT_OF_RANGE)
    assert report.status is Status.GREEN
    good = agent.assess(Reading("SM-A", at(31), {"power": 50.0, "production_rate": 60}))
    assert good.sensor_faults == () and good.status is Status.GREEN


def test_energy_per_interval_is_turned_into_power() -> None:
    agent = MeterAgent(line_meter())
    agent.assess(Reading("SM-A", at(0), {"energy_kwh": 0.0, "production_rate": 60}))
    report = agent.assess(Reading("SM-A", at(0.25), {"energy_kwh": 12.5, "production_rate": 60}))
    assert report.indicator("power").value == pytest.approx(50.0)


def test_meter_snapshot_restore_gives_identical_next_report() -> None:
    agent = MeterAgent(compressor())
    list(feed_compressor(agent, range(0, 40), 6.3))
    snapshot = json.loads(json.dumps(agent.snapshot()))
    twin = MeterAgent(compressor())
    twin.restore(snapshot)
    nxt = Reading("C-1", at(40), {"power": 66.0, "flow": 10.0})
    assert twin.assess(nxt) == agent.assess(nxt)
    with pytest.raises(ConfigError, match="same meter"):
        MeterAgent(line_meter()).restore(snapshot)


def plant() -> EnergySystem:
    return EnergySystem(
        system_id="energy:test",
        meters=(
            EnergyMeter(meter_id="M-0", kind=MeterKind.PLANT_MAIN, commissioning_h=24),
            line_meter(parent="M-0"),
            line_meter(meter_id="SM-B", parent="M-0"),
            compressor(parent="M-0", smoothing_h=24.0),
        ),
    )


def plant_reading(
    h: int, *, extra_a: float = 0.0, extra_b: float = 0.0, extra_main: float = 0.0, sp: float = 6.0
) -> Reading:
    ra, rb = rate_at(h), rate_at(h + 3)
    kw_a = 20 + 0.5 * ra + wobble(h) + extra_a
    kw_b = 15 + 0.4 * rb + wobble(h + 1) + extra_b
    flow = 2 + 0.05 * (ra + rb)
    kw_c = sp * flow
    return Reading(
        "energy:test",
        at(h),
        {
            "production_rate": ra + rb,
            "M-0.power": kw_a + kw_b + kw_c + 30 + extra_main,
            "SM-A.power": kw_a,
            "SM-A.production_rate": ra,
            "SM-B.power": kw_b,
            "SM-B.production_rate": rb,
            "C-1.power": kw_c,
            "C-1.flow": flow,
        },
    )


def test_plant_spike_is_blamed_on_the_sub_meter_that_jumped() -> None:
    agent = PlantEnergyAgent(plant())
    for h in range(30):
        agent.assess(plant_reading(h))
    # C-1 has drifted 20 % for days (more kW over baseline than B's jump), but B jumped this hour.
    for h in range(30, 130):
        agent.assess(plant_reading(h, sp=7.2))
    report = agent.assess(plant_reading(130, sp=7.2, extra_b=25.0))
    assert report.asset_kind is AssetKind.ENERGY and report.asset_id == "energy:test"
    assert agent.last_attribution is not None and agent.last_attribution.meter_id == "SM-B"
    assert any("comes from SM-B" in f for f in report.findings)
    assert report.indicator("spike_source_share").note == "SM-B"
    assert agent.last_reports["C-1"].status is Status.AMBER  # the drift is still reported
    assert report.status is Status.AMBER and report.indicator("C-1.drift_pct").value > 10


def test_plant_spike_with_no_sub_meter_behind_it_points_at_unmetered_load() -> None:
    agent = PlantEnergyAgent(plant())
    for h in range(30):
        agent.assess(plant_reading(h))
    report = agent.assess(plant_reading(30, extra_main=40.0))
    assert agent.last_attribution is not None and agent.last_attribution.meter_id is None
    assert any("unmetered" in f for f in report.findings)


def test_plant_snapshot_restore_and_faults_named_by_meter() -> None:
    agent = PlantEnergyAgent(plant())
    for h in range(40):
        agent.assess(plant_reading(h))
    twin = PlantEnergyAgent(plant())
    twin.restore(json.loads(json.dumps(agent.snapshot())))
    bad = plant_reading(40)
    bad = Reading(bad.asset_id, bad.time, {**bad.values, "C-1.flow": math.nan})
    mine, theirs = agent.assess_all(bad), twin.assess_all(bad)
    assert mine == theirs
    assert [f.sensor for f in mine[0].sensor_faults] == ["C-1.flow"]
    assert [r.asset_id for r in mine] == ["energy:test", "M-0", "SM-A", "SM-B", "C-1"]


def test_energy_system_config_errors_name_the_meter() -> None:
    with pytest.raises(ValidationError, match="exactly one meter of kind plant_main"):
        EnergySystem(system_id="x", meters=(line_meter(),))
    with pytest.raises(ValidationError, match="unknown parent 'M-9'"):
        EnergySystem(
            system_id="x",
            meters=(EnergyMeter(meter_id="M-0", kind="plant_main"), line_meter(parent="M-9")),
        )
    with pytest.raises(ValidationError, match="drift_red_pct"):
        line_meter(drift_amber_pct=30, drift_red_pct=20)
