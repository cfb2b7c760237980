"""Every indicator against its own commissioning baseline: wear is called, wander is not."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from agents.base import Reading
from agents.machine import MachineAgent, MachineAsset
from agents.models import Status
from agents.simulator.wander import spindle_run

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)


def generic_asset(**extra: object) -> MachineAsset:
    """Three vendor condition indicators, no limits, no direction declared, default baseline."""
    return MachineAsset.model_validate(
        {
            "id": "pump-9",
            "sensors": [
                {"name": "ci_bearing", "kind": "condition_indicator", "unit": "g"},
                {"name": "ci_temp", "kind": "condition_indicator", "unit": "degC"},
                {"name": "efficiency", "kind": "condition_indicator", "unit": "%"},
            ],
            **extra,
        }
    )


def healthy_values(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Noise, a day/night cycle and a slow mean-reverting wander, as real instruments show."""
    t_h = np.arange(n) * STEP.total_seconds() / 3600.0
    ou = np.zeros((3, n))
    a = math.exp(-(1 / 6) / 8.0)  # time constant 8 h
    for i in range(1, n):
        ou[:, i] = a * ou[:, i - 1] + math.sqrt(1 - a * a) * rng.standard_normal(3)
    day = np.sin(2 * np.pi * t_h / 24.0)
    return {
        "ci_bearing": 0.30 + 0.02 * ou[0] + 0.01 * day + rng.normal(0, 0.02, n),
        "ci_temp": 48.0 + 0.8 * ou[1] + 2.5 * day + rng.normal(0, 0.4, n),
        "efficiency": 82.0 + 0.3 * ou[2] + rng.normal(0, 0.5, n),
    }


def replay(agent: MachineAgent, values: dict[str, np.ndarray]) -> list:
    n = len(next(iter(values.values())))
    return [
        agent.assess(Reading("pump-9", T0 + i * STEP, {k: float(v[i]) for k, v in values.items()}))
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_healthy_week_with_daily_cycles_and_wander_never_goes_amber(seed: int) -> None:
    # Default commissioning: 48 readings = 8 hours, a third of the daily cycle it will see.
    reports = replay(
        MachineAgent(generic_asset()), healthy_values(np.random.default_rng(seed), 1008)
    )
    assert reports[-1].baseline_ready
    statuses = {r.status for r in reports}
    assert statuses <= {Status.GREEN, Status.UNKNOWN}, [
        r.summary for r in reports if r.status is not Status.GREEN
    ][:3]
    assert not any("departure" in f for r in reports for f in r.findings)


def test_a_rising_indicator_without_limits_goes_amber_long_before_failure_and_is_named() -> None:
    rng = np.random.default_rng(5)
    n, onset = 1000, 600  # ~7 days at 10 min; wear grows exponentially over the last ~67 h
    values = healthy_values(rng, n)
    k = np.arange(n) - onset
    values["ci_bearing"] = values["ci_bearing"] + np.where(
        k > 0, 0.01 * np.expm1(4.5 * k / (n - onset)), 0.0
    )
    reports = replay(MachineAgent(generic_asset()), values)
    first = next(i for i, r in enumerate(reports) if r.status is Status.AMBER)
    assert onset < first < n - 12 * 6  # amber after the onset, at least 12 hours before the end
    amber = reports[first]
    assert "departure from baseline: ci_bearing rising" in amber.summary
    drift = amber.indicator("ci_bearing.drift")
    assert drift is not None and drift.value is not None and drift.value >= 3
    # No limit and no learned failure level: the remaining life is said to be unknown, not made up.
    assert amber.rul is None and amber.indicator("rul").note.startswith("unknown: ci_bearing")
    # Without any red limit, the indicator far beyond its amber excursion and still rising is red.
    assert reports[-1].status is Status.RED
    assert all(r.status is not Status.GREEN for r in reports[first:])  # no flicker back


def test_a_falling_efficiency_is_named_with_its_direction_and_a_learned_failure_level_gives_rul() -> (
    None
):
    rng = np.random.default_rng(6)
    n, onset = 1000, 500
    values = healthy_values(rng, n)
    values["efficiency"] = values["efficiency"] - np.clip(np.arange(n) - onset, 0, None) * 0.02
    asset = generic_asset(
        thresholds={
            "failure_levels": {
                "efficiency": {
                    "value": 70.0,
                    "basis": "efficiency at failure, 6 pumps of the fleet",
                }
            }
        }
    )
    reports = replay(MachineAgent(asset), values)
    first = next(i for i, r in enumerate(reports) if r.status is Status.AMBER)
    assert onset < first
    assert "efficiency falling" in reports[first].summary
    # Once the trend window (48 h = 288 readings) lies on the decline, the remaining life to the
    # learned level (70 % at reading onset + 600) is bracketed; the basis is named.
    i = onset + 350
    later = reports[i]
    assert later.rul is not None and "efficiency = 70" in later.rul.method
    assert "fleet" in later.rul.method
    expected_h = (onset + 600 - i) / 6
    assert later.rul.lower <= expected_h <= later.rul.upper


def test_a_level_that_comes_back_every_day_is_not_a_new_extreme() -> None:
    # A 24-h cycle bigger than anything seen in an 8-h commissioning: after the first day it keeps
    # reaching the same levels, which is wander, not wear.
    rng = np.random.default_rng(7)
    values = healthy_values(rng, 1008)
    t_h = np.arange(1008) / 6
    values["ci_temp"] = values["ci_temp"] + 6.0 * np.sin(2 * np.pi * t_h / 24.0)
    reports = replay(MachineAgent(generic_asset()), values)
    assert all(r.status is not Status.AMBER for r in reports)


def test_snapshot_restores_the_drift_state() -> None:
    rng = np.random.default_rng(8)
    values = healthy_values(rng, 400)
    values["ci_bearing"][250:] += np.linspace(0, 0.5, 150)
    one = MachineAgent(generic_asset())
    first = replay(one, {k: v[:300] for k, v in values.items()})
    two = MachineAgent(generic_asset())
    two.restore(one.snapshot())
    rest_a = replay(one, {k: v[300:] for k, v in values.items()})
    rest_b = replay(two, {k: v[300:] for k, v in values.items()})
    assert first and [r.status for r in rest_a] == [r.status for r in rest_b]
    assert [r.findings for r in rest_a] == [r.findings for r in rest_b]


@pytest.mark.parametrize("seed", [1, 2])
def test_spindle_twin_with_wandering_instruments_no_false_amber_and_early_warning(
    seed: int,
) -> None:
    healthy = spindle_run(seed, healthy_h=240.0)  # ten days
    assert healthy["false_amber_readings"] == 0 and healthy["red_readings"] == 0
    wear = spindle_run(seed)
    assert wear["false_amber_readings"] == 0
    assert wear["amber_lead_h"] >= 50
