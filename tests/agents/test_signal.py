from __future__ import annotations

import numpy as np
import pytest

from agents.errors import InputError
from agents.signal import (
    G0,
    crest_factor,
    envelope_spectrum,
    kurtosis,
    peak,
    rms,
    velocity_rms_mm_s,
    waveform_features,
)

FS = 10_000.0
T = np.arange(int(FS)) / FS  # one second


def test_level_and_shape_of_a_sine() -> None:
    x = 3.0 * np.sin(2 * np.pi * 50 * T)
    assert rms(x) == pytest.approx(3.0 / np.sqrt(2), rel=1e-3)
    assert peak(x) == pytest.approx(3.0, rel=1e-3)
    assert crest_factor(x) == pytest.approx(np.sqrt(2), rel=1e-3)
    # A sine is less peaky than noise: Pearson kurtosis 1.5.
    assert kurtosis(x) == pytest.approx(1.5, rel=1e-2)


def test_kurtosis_is_pearson_and_rises_with_impacts() -> None:
    rng = np.random.default_rng(7)
    noise = rng.normal(size=200_000)
    assert kurtosis(noise) == pytest.approx(3.0, abs=0.05)
    impacted = noise.copy()
    impacted[::1000] += 25.0
    assert kurtosis(impacted) > 6.0
    assert crest_factor(impacted) > 3 * crest_factor(noise)


def test_silent_window_has_no_shape_numbers() -> None:
    assert crest_factor(np.zeros(1024)) == 0.0
    assert kurtosis(np.full(1024, 4.0)) == 0.0


@pytest.mark.parametrize("freq", [20.0, 100.0, 640.0])
def test_velocity_of_an_in_band_tone(freq: float) -> None:
    amp = 5.0  # m/s^2 peak
    accel = amp * np.sin(2 * np.pi * freq * T)
    expected = amp / (2 * np.pi * freq) / np.sqrt(2) * 1000.0
    assert velocity_rms_mm_s(accel, FS) == pytest.approx(expected, rel=0.02)
    # The same record in g reads the same velocity.
    assert velocity_rms_mm_s(accel / G0, FS, unit="g") == pytest.approx(expected, rel=0.02)


def test_velocity_ignores_what_lies_outside_the_iso_band() -> None:
    tone = 5.0 * np.sin(2 * np.pi * 100 * T)
    slow_drift = 2.0 * np.sin(2 * np.pi * 2.0 * T)  # below 10 Hz
    high = 50.0 * np.sin(2 * np.pi * 3000 * T)  # above 1000 Hz
    alone = velocity_rms_mm_s(tone, FS)
    assert velocity_rms_mm_s(tone + slow_drift + high, FS) == pytest.approx(alone, rel=0.02)


def test_velocity_refuses_an_unknown_unit() -> None:
    with pytest.raises(InputError, match="unit 'mm/s'"):
        velocity_rms_mm_s(np.ones(256), FS, unit="mm/s")


def test_envelope_spectrum_recovers_the_modulation() -> None:
    # 3 kHz carrier, 40 % amplitude modulation at 87 Hz: the envelope shows 87 Hz, amplitude 0.4*A.
    carrier = 2.0 * (1 + 0.4 * np.cos(2 * np.pi * 87 * T)) * np.sin(2 * np.pi * 3000 * T)
    f, a = envelope_spectrum(carrier, FS, band=(2000.0, 4000.0))
    assert f[1] - f[0] == pytest.approx(1.0)
    k = int(np.argmax(a))
    assert f[k] == pytest.approx(87.0, abs=1.0)
    assert a[k] == pytest.approx(0.8, rel=0.1)


def test_envelope_spectrum_band_above_nyquist_is_an_error() -> None:
    with pytest.raises(InputError, match="Nyquist"):
        envelope_spectrum(np.ones(4096), 1000.0, band=(600.0, 900.0))
    with pytest.raises(InputError, match="at least 64"):
        envelope_spectrum(np.ones(10), 1000.0)


def test_waveform_features_of_one_window() -> None:
    accel = 5.0 * np.sin(2 * np.pi * 100 * T[:4096])
    feats = waveform_features(accel, FS, "m/s2")
    assert feats.rms == pytest.approx(5.0 / np.sqrt(2), rel=0.01)
    assert feats.peak == pytest.approx(5.0, rel=0.01)
    assert feats.velocity_rms_mm_s == pytest.approx(5.627, rel=0.03)
    in_g = waveform_features(accel / G0, FS, "g")
    assert in_g.rms == pytest.approx(feats.rms, rel=1e-9)  # features are reported in m/s^2


def test_waveform_features_refuse_non_finite_samples() -> None:
    accel = np.ones(1024)
    accel[10] = np.nan
    with pytest.raises(InputError, match="1 NaN/inf samples"):
        waveform_features(accel, FS, "m/s2")
