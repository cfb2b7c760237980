"""The agents' ingest in one process (no Ray): CPU time per scalar reading of a shard.

    .venv/bin/python benchmarks/bench_shard.py [--assets 200] [--rounds 100] [--repeat 3]

The bench plant of ``bench_loop.py`` (cloned mills, 2 % wearing, no waveforms): ``--rounds``
readings per mill from the simulator, assessed as ``AssetActor`` does (``assess_round``, a report
built only when its signature changes). CPU time of this process (``time.process_time``), which a
shared machine's load disturbs less than wall time; both are printed, with the load average.
The last line's ``signatures`` digest is of every asset's last report signature: two checkouts
that print the same digest published the same statuses, levels and faults. Prints only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_loop import START, bench_config  # noqa: E402

from agents.base import Reading  # noqa: E402
from agents.machine_shard import assess_round  # noqa: E402
from agents.registry import build_agent  # noqa: E402
from agents.simulator.plant import PlantSim, SimulationSpec  # noqa: E402
from orchestrator.assets import asset_specs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=100, help="readings per asset")
    parser.add_argument("--repeat", type=int, default=3, help="runs on fresh agents")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp:
        config = bench_config(
            args.assets,
            ticks=args.rounds,
            wearing=0.02,
            waveform_share=0.0,
            waveform_every=10,
            commission=8,
            shard_size=args.assets,
            seed=7,
            state_dir=Path(tmp),
        )
    sim = PlantSim(SimulationSpec.model_validate(dict(config.simulation or {})), [], start=START)
    per_asset: dict[str, list[Reading]] = defaultdict(list)
    for _ in range(args.rounds):
        for r in sim.tick():
            per_asset[r.asset_id].append(Reading(asset_id=r.asset_id, time=r.time, values=r.values))
    ticks = [list(t) for t in zip(*per_asset.values(), strict=False)]
    specs = {s.asset_id: s for s in asset_specs(config)}
    n = sum(len(t) for t in ticks)
    for run in range(args.repeat):
        shard = [build_agent(specs[r.asset_id]) for r in ticks[0]]
        load = os.getloadavg()[0]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        built, last = 0, [None] * len(shard)
        for tick in ticks:
            for k, step in enumerate(assess_round(shard, tick)):
                if isinstance(step, Exception):
                    raise step
                if step.signature != last[k]:
                    last[k] = step.signature
                    shard[k].report(step)
                    built += 1
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        digest = hashlib.sha256(repr(last).encode()).hexdigest()[:12]
        print(
            f"run {run + 1}: {n} readings of {len(shard)} assets: cpu {1e6 * cpu / n:.1f} us/reading, "
            f"wall {1e6 * wall / n:.1f} us/reading; {built} reports built; "
            f"load {load:.1f} -> {os.getloadavg()[0]:.1f}; signatures {digest}"
        )


if __name__ == "__main__":
    main()
