"""The loop's driver side at 10,000 assets, in one process (no Ray, no Temporal): per tick.

    .venv/bin/python benchmarks/bench_policy_tick.py [--assets 10000] [--ticks 20] [--changed 0.15]

What ``Orchestrator.step`` does around the agents, on the bench plant of ``bench_loop.py``
(``--assets`` cloned mills, the library's policies and the plant's context):
- building the policy context's machine table once (``PlantContext``: alternatives per machine);
- the policy engine per tick, evaluating every policy on every asset (``incremental=False``) and
  only what may answer differently (the default), on the same reports: a new report for
  ``--changed`` of the assets each tick, a few of them amber with bearing evidence so that
  decisions are made; the two engines' decisions are checked equal;
- saving the loop's progress per tick (``Progress.save`` with the engine's reports).
Prints only; not a test. The load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_loop import START, bench_config  # noqa: E402

from agents.models import Status  # noqa: E402
from orchestrator.plant_context import PlantContext  # noqa: E402
from orchestrator.progress import History, Progress  # noqa: E402
from policies.engine import PolicyEngine  # noqa: E402
from policies.loader import load_all  # noqa: E402
from policies.testing import report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--changed", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.assets < 1 or args.ticks < 1 or not 0 <= args.changed <= 1:
        parser.error("--assets and --ticks must be >= 1, --changed in [0, 1]")
    import asyncio

    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        config = bench_config(
            args.assets, ticks=args.ticks, wearing=0.0, waveform_share=0.0, waveform_every=10,
            commission=8, shard_size=1000, seed=args.seed, state_dir=Path(tmp),
        )
        plant = PlantContext(
            config, history=History(), catalog={}, expected={}, open_keys=frozenset,
        )
        t0 = time.perf_counter()
        asyncio.run(plant.machines())
        machines_s = time.perf_counter() - t0
        ids = [m["id"] for m in config.machines]
        rng = random.Random(args.seed)
        ticks = []
        for k in range(args.ticks):
            now = START + timedelta(seconds=k + 1)
            changed = ids if k == 0 else rng.sample(ids, round(len(ids) * args.changed))
            reports = []
            for a in changed:
                amber = rng.random() < 0.01
                reports.append(
                    report(
                        a,
                        time=now,
                        status=Status.AMBER if amber else Status.GREEN,
                        indicators={"spindle_vel.bearing_defect_ratio": (5.0 if amber else 1.0, "")},
                        rul_h=50.0 if amber else None,
                        seq=k,
                    )
                )
            ticks.append((now, reports))
        policies = [f.loaded for f in load_all()]
        out = {}
        for name, incremental in (("every policy on every asset", False), ("incremental", True)):
            engine = PolicyEngine(policies, incremental=incremental)
            decisions, seconds = [], []
            for now, reports in ticks:
                ctx = asyncio.run(plant.at(now))
                t0 = time.perf_counter()
                decisions += [d.decision_id for d in engine.process(reports, ctx)]
                seconds.append(time.perf_counter() - t0)
            out[name] = (engine, decisions, seconds)
        (_, full, _), (engine, inc, _) = out.values()
        assert full == inc, "the incremental engine decided otherwise"
        progress = Progress(sim_start=START)
        save_s = []
        for _ in range(5):
            t0 = time.perf_counter()
            progress.engine = engine.snapshot(latest=False)
            progress.engine_latest = engine.latest_json()
            progress.save(Path(tmp) / "progress.json")
            save_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        progress.engine = engine.snapshot()
        progress.engine_latest = None
        progress.save(Path(tmp) / "progress-old.json")
        old_save_s = time.perf_counter() - t0
        size_mb = (Path(tmp) / "progress.json").stat().st_size / 1e6

    print(
        f"{args.assets} mills, {args.ticks} ticks, {args.changed:.0%} of the assets with a new "
        f"report per tick after the first; {len(policies)} policies; load {[round(x, 2) for x in load]} "
        f"-> {[round(x, 2) for x in os.getloadavg()]} on {os.cpu_count()} CPUs"
    )
    print(f"  machine table (alternatives), built once      {machines_s:8.3f} s")
    for name, (eng, decisions, seconds) in out.items():
        later = seconds[1:]
        print(
            f"  engine, {name:<28s} first tick {seconds[0]:6.3f} s, then {sum(later) / len(later):6.3f} s"
            f"/tick; {len(decisions)} decisions; evaluations {eng.stats.evaluations}, "
            f"skipped {eng.stats.skipped}"
        )
    print(
        f"  save progress ({size_mb:.1f} MB): reports' JSON reused {sum(save_s[1:]) / 4:6.3f} s/tick; "
        f"every report dumped again {old_save_s:6.3f} s"
    )


if __name__ == "__main__":
    main()
