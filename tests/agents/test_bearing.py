from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.bearing import (
    BearingFaultKind,
    BearingGeometry,
    DefectFrequencies,
    diagnose,
)
from tests.agents.vibration_signals import (
    FS,
    GEOMETRY_6205,
    SHAFT_HZ,
    background,
    freqs_6205,
    impact_train,
)

K = BearingFaultKind


def test_defect_frequencies_match_the_6205_table() -> None:
    # Multiples of shaft speed published for the 6205-2RS JEM; that table's "BSF" is twice the
    # ball spin, ours is the spin itself (see agents/bearing.py).
    f = DefectFrequencies.from_geometry(GEOMETRY_6205, SHAFT_HZ)
    assert f.bpfo / SHAFT_HZ == pytest.approx(3.5848, rel=1e-3)
    assert f.bpfi / SHAFT_HZ == pytest.approx(5.4152, rel=1e-3)
    assert 2 * f.bsf / SHAFT_HZ == pytest.approx(4.7135, rel=1e-3)
    assert f.ftf / SHAFT_HZ == pytest.approx(0.39828, rel=1e-3)
    assert f.bpfo == pytest.approx(9 * f.ftf)  # n balls pass per cage turn


def test_contact_angle_spreads_race_frequencies_less() -> None:
    flat = DefectFrequencies.from_geometry(GEOMETRY_6205, SHAFT_HZ)
    angled = DefectFrequencies.from_geometry(
        GEOMETRY_6205.model_copy(update={"contact_angle_deg": 40.0}), SHAFT_HZ
    )
    assert flat.bpfo < angled.bpfo < angled.bpfi < flat.bpfi


def test_impossible_geometry_is_refused() -> None:
    with pytest.raises(ValidationError, match="smaller than the pitch"):
        BearingGeometry(n_balls=9, ball_diameter_mm=40, pitch_diameter_mm=39)
    with pytest.raises(ValidationError):
        BearingGeometry(n_balls=0, ball_diameter_mm=7, pitch_diameter_mm=39)


def _faulty(kind: BearingFaultKind, seed: int, slip: float = 1.01) -> np.ndarray:
    f = freqs_6205()
    rng = np.random.default_rng(seed)
    if kind is K.OUTER_RACE:
        x = impact_train(f.bpfo * slip, rng)
    elif kind is K.INNER_RACE:
        # The defect passes through the load zone once per shaft turn.
        x = impact_train(f.bpfi * slip, rng, modulation_hz=SHAFT_HZ, modulation_depth=0.6)
    elif kind is K.BALL:
        # A ball spall strikes both races once per spin and is modulated as the cage carries it.
        x = impact_train(2 * f.bsf * slip, rng, modulation_hz=f.ftf, modulation_depth=0.5)
    else:
        x = impact_train(f.ftf * slip, rng, amplitude=3.0)
    return x + background(rng)


@pytest.mark.parametrize("kind", [K.OUTER_RACE, K.INNER_RACE, K.BALL, K.CAGE])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_defect_is_found_and_only_that_one(kind: BearingFaultKind, seed: int) -> None:
    result = diagnose(_faulty(kind, seed), FS, freqs_6205())
    assert result.kinds == (kind,)
    finding = result.findings[0]
    assert finding.frequency_hz == pytest.approx(finding.expected_hz, rel=0.02)
    assert finding.ratio >= result.ratio_threshold
    assert finding.harmonics_found >= 2
    assert finding.peak_amplitude > finding.background > 0


@pytest.mark.parametrize("slip", [0.985, 1.0, 1.015])
def test_slip_within_tolerance_is_still_found(slip: float) -> None:
    assert diagnose(_faulty(K.OUTER_RACE, 4, slip=slip), FS, freqs_6205()).kinds == (K.OUTER_RACE,)


def test_line_far_from_every_defect_frequency_is_not_a_defect() -> None:
    # Impacts at 1.25 x BPFO match no bearing frequency: no diagnosis, however strong.
    rng = np.random.default_rng(5)
    x = impact_train(freqs_6205().bpfo * 1.25, rng, amplitude=3.0) + background(rng)
    assert diagnose(x, FS, freqs_6205()).kinds == (K.NONE,)


@pytest.mark.parametrize("seed", range(20))
def test_noise_and_unbalance_raise_no_alarm(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    quiet = background(rng, noise=1.0, unbalance=5.0)
    result = diagnose(quiet, FS, freqs_6205())
    assert result.kinds == (K.NONE,)
    assert not result.faulty
    assert len(result.evidence) == 4  # every kind was looked at


def test_false_calls_on_short_noise_windows_are_rare() -> None:
    # The machine agent diagnoses every 4096-sample window it gets: a diagnosis that flickered on
    # noise would be seen at once on the board.
    rng = np.random.default_rng(2024)
    f = freqs_6205()
    calls = sum(diagnose(rng.normal(0.0, 1.0, 4096), FS, f).faulty for _ in range(300))
    assert calls <= 1


def test_unbalance_inside_the_envelope_band_raises_no_alarm() -> None:
    # Even when the user envelopes a band that contains the shaft tones, they are not defects.
    rng = np.random.default_rng(9)
    result = diagnose(background(rng, unbalance=10.0), FS, freqs_6205(), band=(10.0, 2000.0))
    assert result.kinds == (K.NONE,)


def test_weak_defect_is_found_by_the_default_threshold_only() -> None:
    f = freqs_6205()
    rng = np.random.default_rng(11)
    x = impact_train(f.bpfo, rng, amplitude=0.5) + background(rng)
    assert diagnose(x, FS, f, ratio_threshold=12.0).kinds == (K.NONE,)
    assert diagnose(x, FS, f).kinds == (K.OUTER_RACE,)


def test_evidence_describes_the_peak() -> None:
    finding = diagnose(_faulty(K.OUTER_RACE, 1), FS, freqs_6205()).findings[0]
    text = finding.describe()
    assert "outer race defect (BPFO)" in text
    assert "x background" in text
