"""The whole loop under load: many simulated machines -> Ray agents -> policies -> Temporal starts.

    .venv/bin/python benchmarks/bench_loop.py [--assets 100] [--ticks 160] [--shard-size 25]
                                              [--wearing 0.2] [--waveforms] [--json]

A plant of ``--assets`` CNC spindles (the sample plant's mill, cloned) is driven by seeded
``MachineTwin``s through ``PlantSim``; a fraction (``--wearing``) has a bearing defect that makes
it cross amber during the run. Each tick the simulation's readings go through
``Orchestrator.step`` as the orchestrator runs them: ``AgentFleet.ingest`` on a local Ray (actors
of ``--shard-size`` assets), the policy engine over the reports, one ``start_workflow`` per
decision that acts, progress saved. Ticks run back to back, as fast as the loop allows.

Printed:
- readings and reports per second end to end (the simulation's own time to make the readings is
  excluded and shown apart), and where a tick's time goes (ingest on Ray, policies, starts...);
- for every workflow started, the wall-clock latency (p50 / p99 / max) from (a) the tick's
  readings being sent, (b) the arrival of the report its decision was made on and (c) the
  arrival of the asset's first report of the episode that crossed to amber/red, to the moment
  ``start_workflow`` returned;
- in the same run, on the same Temporal dev server: bare ``client.start_workflow`` calls of a
  trivial workflow type (no worker polls its queue, so only the start is paid), one at a time
  (as the loop starts them) and ``--concurrency`` at a time (design.md: ~140/s at 50).

No Temporal worker runs and no MES is attached (mes=None: no planned windows, so bearing jobs are
proposed as unplanned stops): the figures are the loop's own costs. Everything started here
(Temporal dev server, reference servers, Ray) is stopped at the end; state lives in a temp dir.
Prints only; not a test (on a shared 2-core machine the figures vary by tens of percent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Reading
from agents.models import HealthReport, Status
from orchestrator.config import PlantConfig, load_config
from policies.models import Decision

DEMO_PLANT = (
    Path(__file__).resolve().parents[1] / "orchestrator" / "plants" / "precision_components.toml"
)
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
CROSSED = (Status.AMBER, Status.RED)


# ---- the plant ------------------------------------------------------------------------------
def bench_config(
    assets: int,
    *,
    ticks: int,
    step_h: float,
    wearing: float,
    shard_size: int,
    seed: int,
    state_dir: Path,
) -> PlantConfig:
    """The sample plant's people and policies with ``assets`` cloned mills and their twins."""
    from orchestrator.temporal import free_port

    base = load_config(DEMO_PLANT, environ={})
    template = dict(base.machines[0])  # mill-1: spindle sensors, bearing, thresholds
    rng = random.Random(seed)
    horizon_h = ticks * step_h
    machines, twins = [], []
    wear_ids = set(rng.sample(range(assets), k=round(assets * wearing)))
    for i in range(assets):
        asset = f"mill-{i:03d}"
        line = base.lines[i % len(base.lines)].id
        machines.append(
            {**template, "id": asset, "name": f"bench mill {i}", "line": line, "bottleneck": False}
        )
        twin: dict[str, Any] = {"asset": asset, "twin": "spindle", "seed": seed * 1000 + i}
        if i in wear_ids:
            # The agent turns amber ~40 % into the defect's life (after its 48 h commissioning):
            # onsets spread so that crossings happen all along the run, before any failure.
            life = rng.uniform(80.0, 130.0)
            latest_onset = max(50.0, horizon_h - 0.55 * life)
            twin |= {"onset_h": rng.uniform(50.0, latest_onset), "life_h": life}
        else:
            twin |= {"onset_h": 10 * horizon_h + 1000.0, "life_h": 200.0}  # healthy all run
        twins.append(twin)
    data = base.model_dump()
    data.update(
        site="bench-plant",
        state_dir=state_dir,
        machines=machines,
        inventory=[],
        energy=[],
        simulation={"step_h": step_h, "twins": twins},
        temporal={
            **data["temporal"],
            "port": free_port(),
            "ui_port": free_port(),
            "task_queue": "autoops-bench",
        },
        ray={**data["ray"], "shard_size": shard_size, "namespace": f"bench-{uuid.uuid4().hex[:8]}"},
        endpoints={**data["endpoints"], "reference": {}},
    )
    return PlantConfig.model_validate(data)


# ---- measurement ----------------------------------------------------------------------------
@dataclass
class Start:
    workflow_id: str
    policy_id: str
    asset_id: str
    tick_sent: float  # the tick's readings handed to the fleet
    report_arrived: float | None  # the decision's report came back from Ray
    crossed_arrived: float | None  # the asset's first amber/red report of this episode came back
    began: float  # start_workflow called
    returned: float  # start_workflow returned


@dataclass
class Probe:
    """Timers wrapped around the orchestrator's parts; records arrivals and starts."""

    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rpcs: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # Temporal calls
    arrived: dict[str, float] = field(default_factory=dict)  # report id -> arrival
    episode: dict[str, float] = field(default_factory=dict)  # asset -> first crossing arrival
    crossings: int = 0
    starts: list[Start] = field(default_factory=list)
    tick_sent: float = 0.0

    def time_sync(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.phases[name] += time.perf_counter() - t0

        return timed

    def time_async(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.phases[name] += time.perf_counter() - t0

        return timed

    def on_reports(self, reports: Sequence[HealthReport]) -> None:
        now = time.perf_counter()
        for report in reports:
            self.arrived[report.report_id] = now
            if report.status in CROSSED:
                if report.asset_id not in self.episode:
                    self.episode[report.asset_id] = now
                    self.crossings += 1
            else:
                self.episode.pop(report.asset_id, None)

    def install(self, orch: Any) -> None:
        ingest = orch.fleet.ingest

        def timed_ingest(readings: Sequence[Reading]) -> list[HealthReport]:
            t0 = time.perf_counter()
            reports = ingest(readings)
            self.phases["ingest (Ray)"] += time.perf_counter() - t0
            self.on_reports(reports)
            return reports

        orch.fleet.ingest = timed_ingest
        # The loop imports forward_health at each call: patching the module attribute counts it.
        import orchestrator.signals as signals

        forward = signals.forward_health

        async def counted_forward(*args: Any, **kwargs: Any) -> bool:
            self.rpcs["signal asset_health"] += 1
            return await forward(*args, **kwargs)

        signals.forward_health = counted_forward  # type: ignore[assignment]
        dispatch = orch.dispatch
        refresh = dispatch.refresh

        async def counted_refresh() -> None:
            self.rpcs["describe"] += len(orch.workflows)
            await refresh()

        dispatch.refresh = counted_refresh
        for target, name, attr in (
            (dispatch, "refresh open workflows", "refresh"),
            (dispatch, "forward health", "forward_health"),
            (orch, "policy context", "context"),
        ):
            setattr(target, attr, self.time_async(name, getattr(target, attr)))
        orch.engine.process = self.time_sync("policy engine", orch.engine.process)
        orch.store.append = self.time_sync("decision log", orch.store.append)
        orch.save = self.time_sync("save progress", orch.save)
        start = dispatch._start

        async def timed_start(decision: Decision) -> str | None:
            t0 = time.perf_counter()
            workflow_id = await start(decision)
            returned = time.perf_counter()
            self.phases["start_workflow"] += returned - t0
            self.rpcs["start_workflow"] += 1
            if workflow_id:
                inputs = [self.arrived[r] for r in decision.inputs if r in self.arrived]
                asset = decision.asset_id or ""
                self.starts.append(
                    Start(
                        workflow_id,
                        decision.policy_id,
                        asset,
                        self.tick_sent,
                        max(inputs) if inputs else None,
                        self.episode.get(asset),
                        t0,
                        returned,
                    )
                )
            return workflow_id

        dispatch._start = timed_start


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.asarray(values) * 1000.0
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def bare_agents(config: PlantConfig, count: int, *, waveforms: bool, seed: int) -> dict[str, Any]:
    """The same machine agent assessing ``count`` readings of a wearing twin in this process,
    without Ray: the floor under the fleet's ingest."""
    from itertools import islice

    from agents.registry import build_agent
    from agents.simulator.machine_twin import MachineTwin
    from orchestrator.assets import asset_specs

    spec = asset_specs(config)[0]
    twin = MachineTwin(seed, asset_id=spec.asset_id, onset_h=60.0, life_h=count / 2.0, start=START)
    readings = list(islice(twin.readings(), count))
    if not waveforms:
        readings = [Reading(asset_id=r.asset_id, time=r.time, values=r.values) for r in readings]
    agent = build_agent(spec)
    t0 = time.perf_counter()
    for reading in readings:
        agent.assess(reading)
    elapsed = time.perf_counter() - t0
    return {
        "readings": len(readings),
        "per_s": round(len(readings) / elapsed, 1),
        "us_per_reading": round(1e6 * elapsed / len(readings), 1),
    }


async def bare_starts(client: Any, count: int, concurrency: int) -> dict[str, float]:
    """``count`` starts of a workflow type no worker runs, ``concurrency`` in flight."""
    queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            t0 = time.perf_counter()
            await client.start_workflow("BenchNoop", i, id=f"{queue}-{i}", task_queue=queue)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - t0
    return {
        "count": count,
        "concurrency": concurrency,
        "per_s": round(count / elapsed, 1),
        **percentiles(latencies),
    }


# ---- the run --------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    from agents.runtime.actor import CheckpointPolicy
    from agents.runtime.adapter import ActorOptions
    from orchestrator.runtime import Orchestrator
    from orchestrator.services import start_services

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        state_dir = Path(tmp) / "state"
        config = bench_config(
            args.assets,
            ticks=args.ticks,
            step_h=args.step_h,
            wearing=args.wearing,
            shard_size=args.shard_size,
            seed=args.seed,
            state_dir=state_dir,
        )
        agents_alone = bare_agents(config, 2000, waveforms=args.waveforms, seed=args.seed)
        t_setup = time.perf_counter()
        services = await start_services(config, state_dir, ray_temp_dir=str(Path(tmp) / "ray"))
        orch = None
        try:
            orch = await Orchestrator.create(
                config,
                client=services.client,
                state_dir=state_dir,
                mes=None,
                start=START,
                # The orchestrator's defaults except how often agents checkpoint (default: after
                # every batch), which --checkpoint-every varies to show its share of the ingest.
                fleet_options=ActorOptions(
                    checkpoint=CheckpointPolicy(every_readings=args.checkpoint_every)
                ),
            )
            setup_s = time.perf_counter() - t_setup
            probe = Probe()
            probe.install(orch)
            assert orch.sim is not None
            sim_s = loop_s = 0.0
            readings_n = reports_n = decisions_n = 0
            for _ in range(args.ticks):
                t0 = time.perf_counter()
                readings = orch.sim.tick()
                if not args.waveforms:
                    readings = [
                        Reading(asset_id=r.asset_id, time=r.time, values=r.values) for r in readings
                    ]
                t1 = time.perf_counter()
                probe.tick_sent = t1
                result = await orch.step(readings)
                t2 = time.perf_counter()
                sim_s += t1 - t0
                loop_s += t2 - t1
                readings_n += result.readings
                reports_n += len(result.reports)
                decisions_n += len(result.decisions)
            bare_one = await bare_starts(services.client, args.bare_starts // 4, 1)
            bare_many = await bare_starts(services.client, args.bare_starts, args.concurrency)
        finally:
            try:
                if orch is not None:
                    orch.fleet.stop()
                    orch.close()
            finally:  # Temporal and Ray stop even if the fleet's last checkpoint failed
                services.stop()
    starts = probe.starts
    by_policy: dict[str, int] = defaultdict(int)
    for s in starts:
        by_policy[s.policy_id] += 1
    return {
        "assets": args.assets,
        "ticks": args.ticks,
        "step_h": args.step_h,
        "shard_size": args.shard_size,
        "actors": -(-args.assets // args.shard_size),
        "waveforms": args.waveforms,
        "wearing": round(args.assets * args.wearing),
        "setup_s": round(setup_s, 1),
        "loop_s": round(loop_s, 2),
        "simulation_s": round(sim_s, 2),
        "readings": readings_n,
        "reports": reports_n,
        "decisions": decisions_n,
        "readings_per_s": round(readings_n / loop_s, 1),
        "reports_per_s": round(reports_n / loop_s, 1),
        "ticks_per_s": round(args.ticks / loop_s, 2),
        "ingest_readings_per_s": round(readings_n / probe.phases["ingest (Ray)"], 1),
        "agent_alone": agents_alone,
        "phases_s": {
            k: round(v, 2) for k, v in sorted(probe.phases.items(), key=lambda kv: -kv[1])
        },
        "temporal_rpcs": dict(probe.rpcs),
        "crossings": probe.crossings,
        "workflows_started": len(starts),
        "workflows_by_policy": dict(by_policy),
        "latency": {
            "tick_sent_to_started": percentiles([s.returned - s.tick_sent for s in starts]),
            "decision_report_to_started": percentiles(
                [s.returned - s.report_arrived for s in starts if s.report_arrived is not None]
            ),
            "first_crossing_to_started": percentiles(
                [s.returned - s.crossed_arrived for s in starts if s.crossed_arrived is not None]
            ),
        },
        "loop_start_workflow": percentiles([s.returned - s.began for s in starts]),
        "bare_start_workflow": [bare_one, bare_many],
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def print_table(r: dict[str, Any]) -> None:
    print(
        f"{r['assets']} machine assets ({r['wearing']} wearing), {r['ticks']} ticks of {r['step_h']:g} h, "
        f"{r['actors']} actors of {r['shard_size']}, waveforms {'on' if r['waveforms'] else 'off'}; "
        f"set-up {r['setup_s']} s; load {r['load_before']} -> {r['load_after']} on {r['cpus']} CPUs"
    )
    print(
        f"loop: {r['loop_s']} s for {r['readings']} readings -> {r['reports']} reports, "
        f"{r['decisions']} decisions, {r['workflows_started']} workflows {r['workflows_by_policy']}"
    )
    print(f"  {'readings/s end to end':<36s}{r['readings_per_s']:>10,.1f}")
    print(f"  {'reports/s end to end':<36s}{r['reports_per_s']:>10,.1f}")
    print(
        f"  {'ticks/s':<36s}{r['ticks_per_s']:>10,.2f}   (simulation itself: {r['simulation_s']} s, not counted)"
    )
    alone = r["agent_alone"]
    print(
        f"  {'readings/s through ingest (Ray)':<36s}{r['ingest_readings_per_s']:>10,.1f}   (one agent in "
        f"this process, no Ray: {alone['per_s']:,.0f}/s, {alone['us_per_reading']:,.0f} us/reading)"
    )
    print("where the loop's time went (s):")
    for name, seconds in r["phases_s"].items():
        print(f"  {name:<36s}{seconds:>10,.2f}  {100 * seconds / r['loop_s']:5.1f} %")
    rpcs = ", ".join(f"{n} {name}" for name, n in r["temporal_rpcs"].items())
    print(f"  Temporal calls made by the loop: {rpcs or 'none'}")
    print(f"latency to start_workflow returned ({r['crossings']} amber/red crossings):")
    print(f"  {'from':<36s}{'n':>5s}{'p50 ms':>10s}{'p99 ms':>10s}{'max ms':>10s}")
    for name, p in r["latency"].items():
        cells = [
            f"{p[k]:>10,.1f}" if p[k] is not None else f"{'-':>10s}"
            for k in ("p50_ms", "p99_ms", "max_ms")
        ]
        print(f"  {name.replace('_', ' '):<36s}{p['n']:>5d}{''.join(cells)}")
    loop = r["loop_start_workflow"]
    print("start_workflow in the loop vs bare client.start_workflow on the same server, same run:")
    if loop["n"]:
        print(
            f"  {loop['n']:>5d} starts in the loop, one at a time: {1000 / loop['p50_ms']:>8,.1f} /s at "
            f"the median;  latency p50 {loop['p50_ms']} ms, p99 {loop['p99_ms']} ms"
        )
    for b in r["bare_start_workflow"]:
        print(
            f"  {b['count']:>5d} starts, concurrency {b['concurrency']:>3d}: {b['per_s']:>8,.1f} /s   "
            f"latency p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--assets", type=int, default=100)
    parser.add_argument("--ticks", type=int, default=160)
    parser.add_argument(
        "--step-h", type=float, default=1.0, help="simulated hours per tick (2 readings/h/asset)"
    )
    parser.add_argument("--shard-size", type=int, default=25, help="assets per Ray actor")
    parser.add_argument(
        "--wearing", type=float, default=0.2, help="fraction of assets with a bearing defect"
    )
    parser.add_argument(
        "--waveforms", action="store_true", help="send the 4096-sample waveforms (every 2 h)"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="agents save after this many new readings (1 = after every batch, the default)",
    )
    parser.add_argument("--bare-starts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    if args.assets < 1 or args.ticks < 1 or args.shard_size < 1 or not 0 <= args.wearing <= 1:
        parser.error("--assets, --ticks, --shard-size must be >= 1 and --wearing in [0, 1]")
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
