"""Vibration windows assessed per second, beside the bare numpy cost of the same FFTs (one run).

    .venv/bin/python benchmarks/bench_vibration.py [--windows 2000] [--fs 20000] [--samples 4096]

(a) bare numpy: ``rfft`` + RMS of each window, the floor any vibration pipeline pays;
(b) the machine agent: the same windows through ``MachineAgent.assess`` with one acceleration
    sensor and a bearing declared (features, ISO 10816-3 velocity, envelope-spectrum bearing
    diagnosis, sensor-fault checks, baseline, trend, report), on one thread.
Also prints where (b)'s time goes: waveform features alone and bearing diagnosis alone.
Prints only; not a test (timings on a shared 2-core machine vary by tens of percent).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from agents.base import Reading
from agents.bearing import BearingGeometry, DefectFrequencies, diagnose
from agents.machine import MachineAgent, MachineAsset
from agents.models import SensorKind, SensorSpec
from agents.signal import waveform_features

GEOMETRY = BearingGeometry(n_balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
SHAFT_HZ = 29.95


def make_windows(count: int, samples: int, fs: float, seed: int) -> np.ndarray:
    """Seeded acceleration windows (m/s^2): noise, a 1x shaft tone, and outer-race impacts."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / fs
    bpfo = DefectFrequencies.from_geometry(GEOMETRY, SHAFT_HZ).bpfo
    ring_t = np.arange(int(0.01 * fs)) / fs
    ring = np.exp(-600 * ring_t) * np.sin(2 * np.pi * 3000 * ring_t)
    impacts = np.zeros(samples)
    for start in np.arange(0.0, samples / fs, 1.0 / bpfo):
        i = int(start * fs)
        seg = ring[: samples - i]
        impacts[i : i + seg.size] += seg
    windows = rng.normal(0.0, 0.5, (count, samples))
    windows += 2.0 * np.sin(2 * np.pi * SHAFT_HZ * t)
    windows += np.linspace(0.0, 1.0, count)[:, None] * impacts  # the defect grows over the run
    return windows


def rate(label: str, count: int, fn: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    elapsed = time.perf_counter() - start
    per_s = count / elapsed
    print(f"{label:<44s} {per_s:>10,.0f} windows/s  {1e6 / per_s:>9,.1f} us/window")
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--fs", type=float, default=20_000.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    windows = make_windows(args.windows, args.samples, args.fs, args.seed)
    asset = MachineAsset(
        id="bench-motor",
        sensors=(
            SensorSpec(
                name="de_acc",
                kind=SensorKind.VIBRATION_ACCELERATION,
                unit="m/s2",
                sampling_hz=args.fs,
            ),
        ),
        bearing=GEOMETRY,
        shaft_hz=SHAFT_HZ,
        commissioning_readings=50,
    )
    agent = MachineAgent(asset)
    freqs = asset.frequencies()
    assert freqs is not None
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    readings = [
        Reading(asset_id=asset.id, time=t0 + timedelta(minutes=10 * i), waveforms={"de_acc": w})
        for i, w in enumerate(windows)
    ]

    print(
        f"{args.windows} windows of {args.samples} samples at {args.fs:g} Hz "
        f"({args.samples / args.fs * 1000:.0f} ms each), one thread"
    )

    def bare(i: int) -> float:
        w = windows[i]
        np.fft.rfft(w)
        return float(np.sqrt(np.mean(w * w)))

    numpy_rate = rate("(a) bare numpy: rfft + RMS", args.windows, bare)
    agent_rate = rate(
        "(b) MachineAgent.assess (full report)", args.windows, lambda i: agent.assess(readings[i])
    )
    rate(
        "    of which waveform features",
        args.windows,
        lambda i: waveform_features(windows[i], args.fs, "m/s2"),
    )
    rate(
        "    of which bearing diagnosis",
        args.windows,
        lambda i: diagnose(windows[i], args.fs, freqs),
    )
    print(f"ratio (a)/(b): the full assessment costs {numpy_rate / agent_rate:.0f}x the bare FFT")
    last = agent.assess(
        Reading(
            asset_id=asset.id,
            time=t0 + timedelta(minutes=10 * args.windows),
            waveforms={"de_acc": windows[-1]},
        )
    )
    print(f"last report: {last.status.value}; {last.summary}")


if __name__ == "__main__":
    main()
