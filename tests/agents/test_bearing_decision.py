"""One condition per record: each kind, with noise, off-nominal speed and shaft harmonics."""

from __future__ import annotations

import numpy as np
import pytest

from agents.bearing_decision import Condition, decide, shaft_from_frequencies
from tests.agents.vibration_signals import (
    FS,
    SHAFT_HZ,
    background,
    freqs_6205,
    impact_train,
)

C = Condition


def _record(
    condition: Condition, seed: int, *, speed: float = 1.0, noise: float = 0.8
) -> np.ndarray:
    """A record of ``condition`` with the shaft turning at ``speed`` x nominal (1 % slip)."""
    f, rng = freqs_6205(), np.random.default_rng(seed)
    shaft, k = SHAFT_HZ * speed, 1.01 * speed
    if condition is C.OUTER_RACE:
        x = impact_train(f.bpfo * k, rng, jitter=0.008)
    elif condition is C.INNER_RACE:
        x = impact_train(f.bpfi * k, rng, modulation_hz=shaft, modulation_depth=0.6, jitter=0.008)
    elif condition is C.BALL:
        x = impact_train(2 * f.bsf * k, rng, modulation_hz=f.ftf * speed, modulation_depth=0.5)
    elif condition is C.CAGE:
        x = impact_train(f.ftf * k, rng, amplitude=3.0)
    else:
        x = np.zeros_like(background(rng))
    return x + background(rng, noise=noise, shaft_hz=shaft)


@pytest.mark.parametrize("condition", list(Condition))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_condition_comes_back_alone_and_ranked_first(condition: Condition, seed: int) -> None:
    result = decide(_record(condition, seed), FS, freqs_6205())
    assert result.condition is condition
    assert result.candidates[0].condition is condition
    assert {a.condition for a in result.alternatives} == set(Condition) - {condition}
    confidences = [a.confidence for a in result.alternatives]
    assert confidences == sorted(confidences, reverse=True)
    if condition is not C.HEALTHY:
        assert result.confidence > 0.5


@pytest.mark.parametrize("condition", [C.OUTER_RACE, C.INNER_RACE, C.BALL])
def test_a_shaft_three_percent_off_nameplate_is_measured_and_the_fault_still_found(
    condition: Condition,
) -> None:
    result = decide(_record(condition, 7, speed=1.03), FS, freqs_6205())
    assert result.speed_source == "measured 1x line"
    assert result.shaft_hz == pytest.approx(1.03 * SHAFT_HZ, rel=0.005)
    assert result.condition is condition


@pytest.mark.parametrize("seed", range(8))
def test_healthy_record_with_strong_shaft_harmonics_is_healthy(seed: int) -> None:
    # Looseness / a rub: one impact per revolution, a comb of shaft harmonics in the envelope,
    # some of which sit within the slip tolerance of 2x and 3x BPFI.
    rng = np.random.default_rng(300 + seed)
    x = background(rng, unbalance=6.0) + impact_train(SHAFT_HZ, rng, amplitude=5.0, jitter=0.001)
    result = decide(x, FS, freqs_6205())
    assert result.condition is C.HEALTHY, result.candidates


def test_inner_race_evidence_counts_its_shaft_sidebands_outer_race_has_none() -> None:
    inner = decide(_record(C.INNER_RACE, 4), FS, freqs_6205()).candidates[0]
    assert inner.condition is C.INNER_RACE and max(inner.sideband_ratios) >= 2.0
    outer = decide(_record(C.OUTER_RACE, 4), FS, freqs_6205()).candidates[0]
    assert outer.condition is C.OUTER_RACE and outer.sideband_ratios == ()


def test_pure_noise_is_healthy_on_many_windows() -> None:
    rng = np.random.default_rng(99)
    calls = [decide(rng.normal(0, 1, 8192), FS, freqs_6205()).condition for _ in range(60)]
    assert calls.count(C.HEALTHY) >= 59


def test_shaft_speed_follows_from_the_kinematic_table() -> None:
    assert shaft_from_frequencies(freqs_6205()) == pytest.approx(SHAFT_HZ)
