"""How often does ``autoops diagnose`` name the right bearing condition? Confusion on synthetic records.

Run from the repository root:

    .venv/bin/python benchmarks/eval_diagnose.py [--per-kind N]

For each condition (healthy, outer race, inner race, ball, cage) ``--per-kind`` records of 2 s at
20 kHz from the 6205 test-rig geometry (``tests/agents/vibration_signals.py``), each with drawn
nuisances: broadband noise 0.5-1.5 (impacts of amplitude 1, cage 3), shaft speed 0.97-1.03 x the
nameplate, slip 0.99-1.02, jitter 0.3-1 %, and in half of the records strong shaft harmonics
(one impact per revolution, looseness / rub, amplitude 1-5). Each record is written to a file
and decided through ``autoops diagnose --json`` with the nameplate geometry. Printed: accuracy
of the decided ``condition``, the confusion matrix, and for comparison how often the per-kind
detector list (``faults``) was exactly the right single kind.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agents.vibration_signals import (  # noqa: E402
    FS,
    GEOMETRY_6205,
    SHAFT_HZ,
    background,
    freqs_6205,
    impact_train,
)

KINDS = ("healthy", "outer_race", "inner_race", "ball", "cage")


def record(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, float, bool]:
    """Samples, the broadband noise level and whether shaft harmonics were added."""
    f = freqs_6205()
    speed = float(rng.uniform(0.97, 1.03))
    k = speed * float(rng.uniform(0.99, 1.02))
    jitter = float(rng.uniform(0.003, 0.01))
    shaft = SHAFT_HZ * speed
    if kind == "outer_race":
        x = impact_train(f.bpfo * k, rng, jitter=jitter)
    elif kind == "inner_race":
        x = impact_train(f.bpfi * k, rng, modulation_hz=shaft, modulation_depth=0.6, jitter=jitter)
    elif kind == "ball":
        x = impact_train(
            2 * f.bsf * k, rng, modulation_hz=f.ftf * speed, modulation_depth=0.5, jitter=jitter
        )
    elif kind == "cage":
        x = impact_train(f.ftf * k, rng, amplitude=3.0, jitter=jitter)
    else:
        x = 0.0
    noise = float(rng.uniform(0.5, 1.5))
    x = x + background(rng, noise=noise, shaft_hz=shaft)
    comb = bool(rng.random() < 0.5)
    if comb:
        x = x + impact_train(shaft, rng, amplitude=float(rng.uniform(1.0, 5.0)), jitter=0.001)
    return np.asarray(x), noise, comb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--per-kind", type=int, default=40)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    from typer.testing import CliRunner

    from orchestrator.cli import app

    geometry = [
        "--n-balls",
        str(GEOMETRY_6205.n_balls),
        "--ball-diameter",
        str(GEOMETRY_6205.ball_diameter_mm),
        "--pitch-diameter",
        str(GEOMETRY_6205.pitch_diameter_mm),
        "--shaft-hz",
        str(SHAFT_HZ),
    ]
    rng = np.random.default_rng(args.seed)
    confusion = {t: dict.fromkeys(KINDS, 0) for t in KINDS}
    single_right = 0
    by: dict[str, list[int]] = {}  # group -> [right, total]
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            for i in range(args.per_kind):
                path = Path(tmp, f"{kind}-{i}.npy")
                x, noise, comb = record(kind, rng)
                np.save(path, x)
                cmd = ["diagnose", "--waveform", str(path), "--fs", str(FS), *geometry, "--json"]
                result = runner.invoke(app, cmd)
                if result.exit_code != 0:
                    raise RuntimeError(result.output)
                out = json.loads(result.stdout)
                confusion[kind][out["condition"]] += 1
                hit = int(out["condition"] == kind)
                for group in (
                    f"noise {'<= 1.0' if noise <= 1.0 else '> 1.0'}",
                    f"shaft harmonics {'added' if comb else 'none'}",
                ):
                    by.setdefault(group, [0, 0])
                    by[group][0] += hit
                    by[group][1] += 1
                want = ["none"] if kind == "healthy" else [kind]
                single_right += out["faults"] == want
    total = len(KINDS) * args.per_kind
    right = sum(confusion[k][k] for k in KINDS)
    healthy_called_faulty = args.per_kind - confusion["healthy"]["healthy"]
    print(
        json.dumps(
            {
                "records": total,
                "accuracy": round(right / total, 3),
                "healthy_called_faulty": healthy_called_faulty,
                "faulty_called_healthy": sum(confusion[k]["healthy"] for k in KINDS[1:]),
                "wrong_fault_kind": sum(
                    confusion[k][j] for k in KINDS[1:] for j in KINDS[1:] if j != k
                ),
                "detector_list_exactly_right": round(single_right / total, 3),
                "accuracy_by": {g: round(r / n, 3) for g, (r, n) in sorted(by.items())},
                "confusion_true_to_decided": confusion,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
