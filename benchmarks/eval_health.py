"""Does health hold on machines we never tuned for? Figures for ``reports/health-validation.md``.

Run from the repository root:

    .venv/bin/python benchmarks/eval_health.py [--engines N] [--subprocess] [--cmapss FILE | --skip-cmapss]
        [--skip-sim] [--seeds 1-5]

1. **C-MAPSS run-to-failure** (``../shared/data/cmapss/train_FD001.txt``, not copied here). Each
   training engine becomes an asset whose 14 informative sensors are *generic condition
   indicators* with no limits, no direction and no failure level declared; one cycle is written
   as one hour. Its readings go through ``autoops replay --json`` (in process through the same
   command; ``--subprocess`` runs the installed console script instead) with the default
   commissioning (48 readings) and default thresholds. Printed: engines amber before failure,
   median / quartiles of the lead (cycles from first amber to the last cycle), false ambers in
   healthy early life (amber while RUL > 125 cycles, the field's usual "still healthy" horizon,
   and amber within the first 100 cycles), and which indicators the first amber named.
   The 7 constant channels (sensors 1, 5, 6, 10, 16, 18, 19) are left out as a plant engineer
   would leave out dead channels: they carry nothing, and the flatline check would rightly call
   them broken instruments.
2. **Simulator bearing scenarios**: the ``bearing-wear`` scenario of ``autoops simulate`` for
   the seeds (lead of the first amber, false ambers before the defect's onset, status sequence);
   the same spindle with wandering instruments (``agents.simulator.wander``: daily temperature
   cycle, 12-h vibration-gain wander, doubled noise, the twin's load changes) and no declared
   temperature limit, healthy for 240 h and run to failure.
3. **Generic healthy weeks**: ``--weeks`` synthetic weeks of three generic indicators with noise,
   a daily cycle and an 8-h mean-reverting wander as large as the noise, judged from an 8-h
   commissioning (the default 48 readings at 10 min): weeks with any amber.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "cmapss" / "train_FD001.txt"
#: Sensor columns (1-based sensor numbers) that vary in FD001.
SENSORS = (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
HEALTHY_RUL = 125  # cycles; the usual C-MAPSS cap (Heimes 2008): beyond it an engine is healthy


def _asset_toml(unit: int, failure_levels: dict[int, float] | None = None) -> str:
    lines = [f'id = "engine-{unit}"', ""]
    for s in SENSORS:
        lines += ["[[sensors]]", f'name = "s{s}"', 'kind = "condition_indicator"', 'unit = ""', ""]
    for s, level in (failure_levels or {}).items():
        lines += [
            f"[thresholds.failure_levels.s{s}]",
            f"value = {level!r}",
            'basis = "median of the last 5 cycles of the 99 other engines (leave-one-out)"',
            "",
        ]
    return "\n".join(lines)


def _fleet_failure_levels(data: np.ndarray, unit: int) -> dict[int, float]:
    """Per sensor: median over the *other* engines of their mean over their last 5 cycles."""
    ends = {
        int(u): data[data[:, 0] == u][-5:].mean(axis=0) for u in np.unique(data[:, 0]) if u != unit
    }
    return {s: float(np.median([e[4 + s] for e in ends.values()])) for s in SENSORS}


def _csv(rows: np.ndarray) -> str:
    header = "time," + ",".join(f"s{s}" for s in SENSORS)
    out = [header]
    for r in rows:
        stamp = (T0 + timedelta(hours=float(r[1]))).isoformat()
        out.append(stamp + "," + ",".join(repr(float(r[4 + s])) for s in SENSORS))
    return "\n".join(out) + "\n"


def _replay(asset: Path, readings: Path, use_subprocess: bool) -> list[dict[str, Any]]:
    args = ["replay", "--asset", str(asset), "--readings", str(readings), "--json"]
    if use_subprocess:
        exe = Path(sys.executable).with_name("autoops")
        text = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True).stdout
    else:
        from typer.testing import CliRunner

        from orchestrator.cli import app

        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:
            raise RuntimeError(f"autoops replay failed: {result.output}")
        text = result.stdout
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def cmapss(
    n_engines: int | None, use_subprocess: bool, fleet_levels: bool = False, path: Path = DATA
) -> dict[str, Any]:
    data = np.loadtxt(path)
    units = sorted({int(u) for u in data[:, 0]})[:n_engines]
    per: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for unit in units:
            rows = data[data[:, 0] == unit]
            asset, readings = Path(tmp, f"e{unit}.toml"), Path(tmp, f"e{unit}.csv")
            levels = _fleet_failure_levels(data, unit) if fleet_levels else None
            asset.write_text(_asset_toml(unit, levels))
            readings.write_text(_csv(rows))
            reports = _replay(asset, readings, use_subprocess)
            last = int(rows[-1, 1])
            cycles = [int(r) for r in rows[:, 1]]
            amber = [
                c for c, r in zip(cycles, reports, strict=True) if r["status"] in ("amber", "red")
            ]
            red = [c for c, r in zip(cycles, reports, strict=True) if r["status"] == "red"]
            first = amber[0] if amber else None
            named = []
            rul_at_amber = None
            if first is not None and reports[cycles.index(first)]["rul"] is not None:
                rul_at_amber = reports[cycles.index(first)]["rul"]
            if first is not None:
                rep = reports[cycles.index(first)]
                named = [
                    f"{i['name'].removesuffix('.drift')} {'rising' if i['value'] > 0 else 'falling'}"
                    for i in rep["indicators"]
                    if i["name"].endswith(".drift")
                ]
            per.append(
                {
                    "unit": unit,
                    "life": last,
                    "first_amber": first,
                    "lead": last - first if first is not None else None,
                    "first_red": red[0] if red else None,
                    "amber_rul_gt_125": sum(1 for c in amber if last - c > HEALTHY_RUL),
                    "amber_first_100": sum(1 for c in amber if c <= 100),
                    "named": named,
                    "instrument_faults": sum(1 for r in reports if r["sensor_faults"]),
                    "rul_at_first_amber": rul_at_amber,
                    # RUL stated at every reading from the first amber on, against the truth.
                    "rul_errors": [
                        (
                            r["rul"]["value"] - (last - c),
                            r["rul"]["lower"] <= last - c <= r["rul"]["upper"],
                        )
                        for c, r in zip(cycles, reports, strict=True)
                        if first is not None and c >= first and r["rul"] is not None
                    ],
                }
            )
    leads = sorted(p["lead"] for p in per if p["lead"] is not None)
    named_count: dict[str, int] = {}
    for p in per:
        for n in p["named"]:
            named_count[n] = named_count.get(n, 0) + 1
    q = statistics.quantiles(leads, n=4) if len(leads) >= 2 else [float("nan")] * 3
    errors = [e for p in per for e in p.pop("rul_errors")]
    rul = {
        "readings_with_rul_after_first_amber": len(errors),
        "engines_with_a_rul_at_first_amber": sum(1 for p in per if p["rul_at_first_amber"]),
    }
    if errors:
        abs_err = [abs(e) for e, _ in errors]
        rul |= {
            "rul_abs_error_cycles_median": round(statistics.median(abs_err), 1),
            "rul_interval_covers_truth": round(sum(1 for _, c in errors if c) / len(errors), 3),
        }
    return {
        "rul_against_fleet_failure_levels" if fleet_levels else "rul": rul,
        "engines": len(per),
        "amber_before_failure": sum(1 for p in per if p["first_amber"] is not None),
        "red_before_failure": sum(1 for p in per if p["first_red"] is not None),
        "lead_cycles_median": statistics.median(leads) if leads else None,
        "lead_cycles_quartiles": [round(q[0], 1), round(q[2], 1)],
        "lead_cycles_min_max": [leads[0], leads[-1]] if leads else None,
        "engines_false_amber_rul_gt_125": sum(1 for p in per if p["amber_rul_gt_125"]),
        "false_amber_readings_rul_gt_125": sum(p["amber_rul_gt_125"] for p in per),
        "engines_amber_in_first_100_cycles": sum(1 for p in per if p["amber_first_100"]),
        "engines_with_instrument_faults": sum(1 for p in per if p["instrument_faults"]),
        "first_amber_named": dict(sorted(named_count.items(), key=lambda kv: -kv[1])),
        "per_engine": per,
    }


def simulator(seeds: list[int]) -> dict[str, Any]:
    from agents.simulator.machine_twin import bearing_wear
    from agents.simulator.wander import spindle_run

    wear = []
    for seed in seeds:
        out = bearing_wear(seed)
        wear.append(
            {
                "seed": seed,
                "amber_lead_h": out["amber_lead_h"],
                "false_amber_count": out["false_amber_count"],
                "status_changes": [c["status"] for c in out["status_changes"]],
            }
        )
    keys = ("seed", "false_amber_readings", "red_readings", "amber_lead_h", "first_amber_at_h")
    healthy = [spindle_run(seed, healthy_h=240.0) for seed in seeds]
    worn = [spindle_run(seed) for seed in seeds]
    return {
        "bearing_wear": wear,
        "wandering_instruments_healthy_240h": [{k: r[k] for k in keys} for r in healthy],
        "wandering_instruments_run_to_failure": [{k: r[k] for k in keys} for r in worn],
    }


def generic_weeks(n: int) -> dict[str, Any]:
    """Healthy weeks of three generic indicators (noise, daily cycle, 8-h wander), no limits."""
    from agents.machine import MachineAgent
    from agents.models import Status
    from tests.agents.test_drift import generic_asset, healthy_values, replay

    flagged = []
    for seed in range(n):
        reports = replay(
            MachineAgent(generic_asset()), healthy_values(np.random.default_rng(1000 + seed), 1008)
        )
        bad = [r for r in reports if r.status in (Status.AMBER, Status.RED)]
        if bad:
            flagged.append({"seed": 1000 + seed, "first": bad[0].summary})
    return {"weeks": n, "weeks_with_amber": len(flagged), "flagged": flagged}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--engines", type=int, default=None, help="first N engines only")
    ap.add_argument("--subprocess", action="store_true", help="run the autoops console script")
    ap.add_argument("--skip-cmapss", action="store_true")
    ap.add_argument("--cmapss", type=Path, default=DATA,
                    help=f"C-MAPSS training file (default {DATA}, beside the repository)")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--seeds", default="1-5", help="simulator seeds, e.g. 1-5")
    ap.add_argument("--weeks", type=int, default=40, help="synthetic healthy generic weeks")
    ap.add_argument("--per-engine", action="store_true", help="print each engine's line too")
    ap.add_argument(
        "--fleet-failure-levels",
        action="store_true",
        help="declare each engine's failure levels learned from the 99 others (leave-one-out)",
    )
    args = ap.parse_args()
    result: dict[str, Any] = {}
    if not args.skip_cmapss:
        if not args.cmapss.is_file():
            # Asked for and missing is an error, not an empty result that looks like a pass.
            sys.exit(f"error: C-MAPSS file {args.cmapss} not found: give --cmapss PATH or --skip-cmapss")
        else:
            result["cmapss_fd001"] = cmapss(
                args.engines, args.subprocess, args.fleet_failure_levels, args.cmapss
            )
            if not args.per_engine:
                result["cmapss_fd001"].pop("per_engine")
    if not args.skip_sim:
        lo, _, hi = args.seeds.partition("-")
        result["simulator"] = simulator(list(range(int(lo), int(hi or lo) + 1)))
        result["generic_healthy_weeks"] = generic_weeks(args.weeks)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
