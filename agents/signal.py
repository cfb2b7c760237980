"""Vibration waveform features: level, shape, ISO velocity and the envelope spectrum.

These are the ISO 13374 "data manipulation" step for a vibration channel: one window of samples
in, a handful of numbers out. All functions are plain numpy/scipy on 1-D arrays and do not keep
state, so the machine agent can call them per window and tests can call them on synthetic signals.

Conventions:
- ``kurtosis`` is Pearson's (not excess): a Gaussian signal scores 3, impacting bearings score more.
- ``velocity_rms_mm_s`` integrates acceleration in the frequency domain and keeps only the ISO
  10816-3 band (10-1000 Hz by default), which is what the zone limits are defined on.
- ``envelope_spectrum`` returns single-sided amplitudes (a tone of amplitude ``a`` in the envelope
  shows as a peak of about ``a``), which makes peaks comparable across window lengths.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict
from scipy import signal as sps

from agents.errors import InputError

#: Standard gravity, for waveforms recorded in g.
G0 = 9.80665

#: Multipliers from an accepted acceleration unit to m/s^2.
_ACCEL_TO_SI: dict[str, float] = {"m/s2": 1.0, "m/s^2": 1.0, "g": G0}

#: Fewest samples a waveform must have for the spectral features to mean anything.
MIN_SAMPLES = 64


def _as_samples(x: ArrayLike, what: str = "waveform") -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise InputError(f"{what} is empty; give at least {MIN_SAMPLES} samples")
    return arr


def rms(x: ArrayLike) -> float:
    """Root mean square of the samples (includes any DC offset, as a meter would)."""
    arr = _as_samples(x)
    return float(np.sqrt(np.mean(arr * arr)))


def peak(x: ArrayLike) -> float:
    """Largest absolute sample value."""
    return float(np.max(np.abs(_as_samples(x))))


def crest_factor(x: ArrayLike) -> float:
    """Peak over RMS; 0.0 for an all-zero window (no signal is not an impulsive signal)."""
    r = rms(x)
    return peak(x) / r if r > 0 else 0.0


def kurtosis(x: ArrayLike) -> float:
    """Pearson kurtosis (normal = 3); 0.0 for a constant window, where it is undefined."""
    arr = _as_samples(x)
    centred = arr - arr.mean()
    sq = centred * centred  # x*x, not x**4: a float power is several times slower
    var = float(np.mean(sq))
    if var <= 0.0:
        return 0.0
    return float(np.mean(sq * sq) / (var * var))


@lru_cache(maxsize=16)
def _hann(n: int) -> NDArray[np.float64]:
    # Windows come in a few fixed lengths; building the taper costs as much as the FFT itself.
    w = np.hanning(n)
    w.setflags(write=False)
    return w


@lru_cache(maxsize=32)
def _envelope_filter(fs: float, lo: float, hi: float) -> NDArray[np.float64]:
    # Designing the Butterworth costs more than filtering a 4096-sample window; reuse it.
    if lo > 0:
        sos = sps.butter(4, [lo, hi], btype="bandpass", fs=fs, output="sos")
    else:
        sos = sps.butter(4, hi, btype="lowpass", fs=fs, output="sos")
    return sos


def _to_si(accel: NDArray[np.float64], unit: str) -> NDArray[np.float64]:
    try:
        return accel * _ACCEL_TO_SI[unit]
    except KeyError:
        raise InputError(
            f"acceleration unit {unit!r} is not supported; use one of {sorted(_ACCEL_TO_SI)}"
        ) from None


def velocity_rms_mm_s(
    accel: ArrayLike,
    fs: float,
    unit: str = "m/s2",
    band: tuple[float, float] = (10.0, 1000.0),
) -> float:
    """RMS vibration velocity in mm/s within ``band`` (Hz), from an acceleration waveform.

    Integration is a division by ``j*2*pi*f`` per FFT bin; bins outside the band are dropped,
    which is both the ISO measurement band and what keeps the integration from blowing up the
    near-DC bins. A Hann window limits leakage from strong out-of-band tones (e.g. below 10 Hz);
    its energy loss is corrected so that a pure in-band tone gives its exact RMS. The upper edge
    is clipped to the Nyquist frequency.
    """
    arr = _to_si(_as_samples(accel, "acceleration waveform"), unit)
    if fs <= 0 or not np.isfinite(fs):
        raise InputError(f"sampling rate must be a positive number of Hz, got {fs}")
    lo, hi = band
    if not 0 <= lo < hi:
        raise InputError(f"velocity band must satisfy 0 <= low < high, got {band}")
    n = arr.size
    window = _hann(n)
    spec = np.fft.rfft((arr - arr.mean()) * window)
    freqs = np.fft.rfftfreq(n, d=1.0 / fs)
    keep = (freqs >= lo) & (freqs <= min(hi, fs / 2.0)) & (freqs > 0)
    if not np.any(keep):
        return 0.0
    vel = spec[keep] / (2j * np.pi * freqs[keep])
    # Parseval for a one-sided spectrum: every kept bin except Nyquist stands for two.
    weights = np.where(np.isclose(freqs[keep], fs / 2.0) & (n % 2 == 0), 1.0, 2.0)
    mean_square = float(np.sum(weights * np.abs(vel) ** 2)) / (n * n * np.mean(window**2))
    return float(np.sqrt(mean_square)) * 1000.0


def default_envelope_band(fs: float) -> tuple[float, float]:
    """Band used for enveloping when none is given: the upper part of the spectrum.

    Bearing impacts ring the structure's resonances, usually well above shaft harmonics; taking
    10 %-45 % of the sampling rate keeps those and drops unbalance / misalignment tones.
    """
    return (0.10 * fs, 0.45 * fs)


def envelope_spectrum(
    x: ArrayLike, fs: float, band: tuple[float, float] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Frequencies (Hz) and single-sided amplitudes of the envelope of ``x`` within ``band``.

    Steps: 4th-order Butterworth band-pass, Hilbert envelope, mean removed, Hann
    window, rFFT magnitude scaled to amplitude. ``band`` defaults to ``default_envelope_band``.
    """
    arr = _as_samples(x)
    if arr.size < MIN_SAMPLES:
        raise InputError(
            f"waveform has {arr.size} samples; the envelope needs at least {MIN_SAMPLES}"
        )
    if fs <= 0 or not np.isfinite(fs):
        raise InputError(f"sampling rate must be a positive number of Hz, got {fs}")
    lo, hi = band if band is not None else default_envelope_band(fs)
    nyq = fs / 2.0
    if not 0 <= lo < hi:
        raise InputError(f"envelope band must satisfy 0 <= low < high, got ({lo}, {hi})")
    hi = min(hi, 0.99 * nyq)
    if lo >= hi:
        raise InputError(f"envelope band ({lo}, {hi}) Hz lies above the Nyquist frequency {nyq} Hz")
    # A copy: scipy wants a writable array, and the cached design must stay pristine. One causal
    # pass (not filtfilt): the filter's phase only delays the envelope, its spectrum's magnitude
    # is the same, at half the cost.
    sos = _envelope_filter(float(fs), float(lo), float(hi)).copy()
    filtered = sps.sosfilt(sos, arr - arr.mean())
    env = np.abs(sps.hilbert(filtered))
    env -= env.mean()
    window = _hann(env.size)
    amp = np.abs(np.fft.rfft(env * window)) * (2.0 / window.sum())
    freqs = np.fft.rfftfreq(env.size, d=1.0 / fs)
    return freqs, amp


class WaveformFeatures(BaseModel):
    """Features of one acceleration window. Acceleration features are in m/s^2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rms: float
    peak: float
    crest: float
    kurtosis: float
    velocity_rms_mm_s: float


def waveform_features(x: ArrayLike, fs: float, unit: str = "m/s2") -> WaveformFeatures:
    """All time-domain features of one acceleration window, plus ISO-band velocity RMS.

    Non-finite samples are refused here: the agent checks them first and reports a sensor fault.
    """
    arr = _as_samples(x, "acceleration waveform")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InputError(f"acceleration waveform has {bad} NaN/inf samples; drop or repair them")
    si = _to_si(arr, unit)
    return WaveformFeatures(
        rms=rms(si),
        peak=peak(si),
        crest=crest_factor(si),
        kurtosis=kurtosis(si),
        velocity_rms_mm_s=velocity_rms_mm_s(si, fs, unit="m/s2"),
    )


__all__ = [
    "G0",
    "MIN_SAMPLES",
    "WaveformFeatures",
    "crest_factor",
    "default_envelope_band",
    "envelope_spectrum",
    "kurtosis",
    "peak",
    "rms",
    "velocity_rms_mm_s",
    "waveform_features",
]
