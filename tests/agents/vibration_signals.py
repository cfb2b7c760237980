"""Synthetic bearing vibration for tests: seeded noise, shaft tones and ringing impact trains.

A local bearing defect makes the structure ring at a resonance each time a rolling element hits
it; the rate of the hits is the defect frequency. ``impact_train`` builds exactly that: decaying
sine bursts at ``rate_hz`` (with small timing jitter, as real slip gives), optionally amplitude
modulated (inner race defects pass through the load zone once per shaft turn).
"""

from __future__ import annotations

import numpy as np

from agents.bearing import BearingGeometry, DefectFrequencies

#: SKF 6205-2RS JEM (drive-end bearing of the well-known Case Western Reserve test rig).
GEOMETRY_6205 = BearingGeometry(
    n_balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04, contact_angle_deg=0.0
)
SHAFT_HZ = 29.95  # 1797 rpm
FS = 20_000.0
SECONDS = 2.0


def freqs_6205() -> DefectFrequencies:
    return DefectFrequencies.from_geometry(GEOMETRY_6205, SHAFT_HZ)


def time_axis(fs: float = FS, seconds: float = SECONDS) -> np.ndarray:
    return np.arange(int(fs * seconds)) / fs


def impact_train(
    rate_hz: float,
    rng: np.random.Generator,
    *,
    amplitude: float = 1.0,
    fs: float = FS,
    seconds: float = SECONDS,
    resonance_hz: float = 3000.0,
    damping: float = 600.0,
    jitter: float = 0.005,
    modulation_hz: float | None = None,
    modulation_depth: float = 0.0,
) -> np.ndarray:
    """Decaying bursts at ``resonance_hz``, one per (jittered) period of ``rate_hz``."""
    n = int(fs * seconds)
    x = np.zeros(n)
    tt = np.arange(int(0.02 * fs)) / fs
    ring = np.exp(-damping * tt) * np.sin(2 * np.pi * resonance_hz * tt)
    t = float(rng.uniform(0.0, 1.0 / rate_hz))
    while t < seconds:
        a = amplitude
        if modulation_hz is not None:
            a *= 1.0 + modulation_depth * np.cos(2 * np.pi * modulation_hz * t)
        i = int(t * fs)
        seg = ring[: n - i]
        x[i : i + seg.size] += a * seg
        t += (1.0 / rate_hz) * (1.0 + rng.normal(0.0, jitter))
    return x


def background(
    rng: np.random.Generator,
    *,
    noise: float = 0.5,
    unbalance: float = 2.0,
    shaft_hz: float = SHAFT_HZ,
) -> np.ndarray:
    """Broadband noise plus a 1x shaft tone (unbalance) and a weaker 2x (misalignment)."""
    t = time_axis()
    return (
        rng.normal(0.0, noise, t.size)
        + unbalance * np.sin(2 * np.pi * shaft_hz * t)
        + 0.3 * unbalance * np.sin(2 * np.pi * 2 * shaft_hz * t + 0.4)
    )
