from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.energy_math import replacement_payback
from agents.energy_plant import PlantEnergyAgent
from agents.models import Status
from agents.simulator.compressor_twin import CompressorTwin, plant_system
from agents.simulator.scenarios import run_scenario

AUTOOPS = Path(sys.executable).parent / "autoops"


def test_same_seed_same_readings() -> None:
    def powers(seed: int) -> list[float]:
        return [r.values["M-0.power"] for r in CompressorTwin(seed=seed).readings(24)]

    assert powers(4) == powers(4) and powers(4) != powers(5)


def test_plant_main_is_the_sum_of_its_parts_plus_base_load() -> None:
    for reading in CompressorTwin(seed=1).readings(48):
        v = reading.values
        parts = v["SM-A.power"] + v["SM-B.power"] + v["C-1.power"] + 40.0
        assert v["M-0.power"] == pytest.approx(parts, abs=8.0)  # 1.5 kW noise on the incomer


def test_specific_power_creeps_up_after_drift_start() -> None:
    twin = CompressorTwin(seed=2, spike_at_h=None)
    sp = {}
    for reading in twin.readings(30 * 24):
        h = (reading.time - twin.start).total_seconds() / 3600
        if reading.time.hour == 12:
            sp[h] = reading.values["C-1.power"] / reading.values["C-1.flow"]
    early = [v for h, v in sp.items() if h < twin.drift_start_h]
    late = [v for h, v in sp.items() if h > 28 * 24]
    assert sum(late) / len(late) > 1.08 * sum(early) / len(early)


def test_healthy_plant_without_drift_or_spike_stays_green() -> None:
    twin = CompressorTwin(seed=3, drift_pct_per_day=0.0, spike_at_h=None)
    agent = PlantEnergyAgent(plant_system())
    worst = Status.GREEN
    for reading in twin.readings(20 * 24):
        worst = Status.worst(worst, agent.assess(reading).status)
    assert worst is Status.GREEN


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compressor_drift_scenario_flags_drift_payback_and_spike_source(seed: int) -> None:
    s = run_scenario("compressor-drift", seed=seed)
    assert s["first_amber_at_h"] > s["drift_start_at_h"]
    assert s["drift_pct_at_first_amber"] >= 10.0  # the configured amber threshold, sustained
    assert s["drift_pct"] == pytest.approx(s["true_drift_pct"], abs=2.0)
    assert s["final_status"] == "amber"
    # the payback follows from the reported figures and the replacement offer of C-1
    spec = next(m for m in plant_system().meters if m.meter_id == "C-1").compressor
    assert spec is not None
    assert 1.0 < s["payback_years"] < 4.0
    assert s["payback_years"] == pytest.approx(spec.replacement_price / s["annual_saving"])
    assert f"pays back in {s['payback_years']:.1f} years" in s["finding"]
    # the single injected spike is found, blamed on line B's meter, and nothing else is called one
    assert s["spike_blamed_meter"] == s["spike_meter"] == "SM-B"
    assert s["plant_spikes_flagged"] == 1


def test_payback_by_hand_for_the_sample_compressor() -> None:
    # 17.5 % drift on 6.5 kW/(m3/min): 7.64 vs 5.6 new, ~6.6 m3/min mean, 6000 h, 0.18 EUR/kWh
    pay = replacement_payback(
        specific_power_now=7.64,
        specific_power_new=5.6,
        mean_flow=6.6,
        operating_hours_per_year=6000,
        tariff_per_kwh=0.18,
        price=32000,
    )
    assert pay.payback_years == pytest.approx(32000 / (2.04 * 6.6 * 6000 * 0.18))
    assert 2.0 < pay.payback_years < 2.5


def test_scenario_through_the_cli() -> None:
    out = subprocess.run(
        [str(AUTOOPS), "simulate", "--scenario", "compressor-drift", "--seed", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    summary = json.loads(out.stdout)
    assert summary["scenario"] == "compressor-drift" and summary["seed"] == 1
    assert summary["first_amber_at_h"] is not None and summary["spike_blamed_meter"] == "SM-B"
    assert summary == json.loads(json.dumps(run_scenario("compressor-drift", seed=1), default=str))
