"""A small synthetic run-to-failure fleet (C-MAPSS layout) for tests that must run without NASA's file.

Each unit has its own life, its own initial offset and wear that starts some cycles before the end
and grows until failure at the last cycle; a few sensors follow the wear, some are pure noise and
some are constant (which the model must find and drop by itself).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_SENSORS = 21
CONSTANT_SENSORS = (1, 5, 10, 16, 18, 19)  # 1-based, as in FD001 (the model is not told)
WEAR_SENSORS = {2: 0.9, 3: 9.0, 4: 12.0, 7: -1.2, 11: 0.4, 12: -0.9, 15: 0.05, 17: 2.5}


def synthetic_fleet(n_units: int = 24, seed: int = 0, regimes: int = 1) -> np.ndarray:
    """Rows of (unit, cycle, 3 settings, 21 sensors); ``regimes`` > 1 adds discrete operating points."""
    rng = np.random.default_rng(seed)
    levels = rng.uniform(0, 40, size=(max(regimes, 1), 3)) if regimes > 1 else np.zeros((1, 3))
    rows: list[np.ndarray] = []
    for unit in range(1, n_units + 1):
        life = int(rng.integers(130, 260))
        cycles = np.arange(1, life + 1, dtype=float)
        onset = life - int(rng.integers(60, 110))
        wear = np.clip((cycles - onset) / (life - onset), 0.0, None) ** 1.7
        offset = rng.normal(0.0, 0.3)
        regime = rng.integers(0, len(levels), size=life)
        settings = levels[regime] + rng.normal(0.0, 0.002, size=(life, 3))
        sensors = np.empty((life, N_SENSORS))
        for s in range(1, N_SENSORS + 1):
            base = 100.0 + 10.0 * s
            if s in CONSTANT_SENSORS:
                sensors[:, s - 1] = base
                continue
            regime_shift = 3.0 * levels[regime, 0] * (s % 3) if regimes > 1 else 0.0
            gain = WEAR_SENSORS.get(s, 0.0)
            noise = rng.normal(0.0, 0.25 + 0.05 * abs(gain), size=life)
            sensors[:, s - 1] = base + regime_shift + gain * (wear + 0.3 * offset) + noise
        block = np.column_stack([np.full(life, unit), cycles, settings, sensors])
        rows.append(block)
    return np.vstack(rows)


def write_cmapss(data: np.ndarray, path: Path) -> Path:
    """Write like NASA does: space separated, a trailing space on every line."""
    lines = []
    for row in data:
        cells = [str(int(row[0])), str(int(row[1]))] + [f"{v:.4f}" for v in row[2:]]
        lines.append(" ".join(cells) + " ")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_csv(data: np.ndarray, path: Path, unit_prefix: str = "engine-") -> Path:
    header = ["unit", "cycle", "setting_1", "setting_2", "setting_3"]
    header += [f"s{i}" for i in range(1, N_SENSORS + 1)]
    lines = [",".join(header)]
    for row in data:
        cells = [f"{unit_prefix}{int(row[0])}", str(int(row[1]))] + [f"{v:.4f}" for v in row[2:]]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def truncate_rows(data: np.ndarray, keep: dict[int, int]) -> np.ndarray:
    """First ``keep[unit]`` cycles of each listed unit."""
    mask = np.array([int(r[0]) in keep and r[1] <= keep[int(r[0])] for r in data])
    return data[mask]
