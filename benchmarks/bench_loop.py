"""The whole loop under load: many simulated machines -> Ray agents -> policies -> Temporal starts.

    .venv/bin/python benchmarks/bench_loop.py [--assets 1000] [--ticks 20] [--shard-size 1000]
        [--wearing 0.02] [--waveform-share 0.05] [--waveform-every 10] [--checkpoint-s 60] [--every-report]
        [--back-to-back] [--no-pipeline] [--max-lag 2] [--profile FILE] [--json]

A plant of ``--assets`` CNC spindles (the sample plant's mill, cloned) is driven by seeded
``MachineTwin``s through ``PlantSim`` at plant speed: each tick is one second of plant time and
brings one scalar reading per asset (1 Hz); ``--waveform-share`` of the assets (5 %) also send a
4,096-sample acceleration window every ``--waveform-every`` ticks (10 s), staggered over the
ticks. The mills are commissioned on their first ``--commission`` readings; a fraction
(``--wearing``) has a bearing defect that grows within the run. Readings go through
``Orchestrator.step`` as the orchestrator runs them: ``AgentFleet.ingest`` on a local Ray (actors
of ``--shard-size`` assets, assessed a round at a time by ``agents.machine_shard``; reports
published on change plus a 60-s heartbeat unless ``--every-report``; each agent's state saved
every ``--checkpoint-s``, the agents taking turns: the plant file's ``[ray] publish`` and
``checkpoint_every_s``, as ``autoops run`` reads them), the policy engine, one
``start_workflow`` per decision that acts, progress saved.

The readings are made before the run (the simulation's time is shown apart). By default ticks
arrive in real time (tick k's readings at k s of the plant's clock) and a step acts on every
tick that arrived while the last step ran, as the live loop takes its sources' buffer
(``Orchestrator.pause_after_step``); with ``--back-to-back`` each tick is its own step, the
next one at hand as soon as the last one is assessed. The loop is pipelined as a live
``autoops run`` / ``autoops loop`` behind its tick runs it: once a step's readings are assessed,
what is at hand of the next ones goes to the agents, assessed while the step decides, starts
and saves (``Orchestrator.step(upcoming=...)``; in real time nothing is at hand while the loop
keeps up); ``--no-pipeline`` runs one step after the other.

Printed (``--json``: one object; ``readings_per_s``, ``keeps_up``, ``bare_numpy_readings_per_s``):
- readings per second end to end (the loop's own time), and whether the loop keeps up with real time: all
  steps took no more wall time than the plant time they cover and, readings arriving in real
  time, the loop was at most ``--max-lag`` s behind the plant at the last tick; the lag (from a
  tick's arrival to the end of the step that acted on it) p50 / p95 / max, and each step's
  ticks, reports and phases (``each_step``);
- beside it, in the same run, the bare numpy cost of the same arithmetic on the same readings
  (``bare_numpy``: per tick, z-scores against a baseline, limits, a rolling spread, a trend
  slope over every asset's scalar sensors as arrays, and rfft + RMS of each waveform) -- the
  floor any implementation pays;
- where a tick's time goes (ingest on Ray, policies, starts...; with pipelining the agents'
  ingest overlaps the rest: "waiting for the agents" is what the step waited for it), the CPU
  each kind of process used meanwhile (``cpu_s``), Temporal calls made;
- for every workflow started, the wall-clock latency from the tick's readings being sent, from
  the report its decision was made on, and from the asset's first amber/red report, to the
  moment ``start_workflow`` returned; bare ``client.start_workflow`` calls on the same server.

No Temporal worker runs and no MES is attached: the figures are the loop's own costs. After
set-up the driver's collector is set as ``autoops run`` / ``autoops loop`` set theirs
(``agents.runtime.gc_tuning.tune_for_loop``: set-up frozen, larger thresholds), as the actors do; ``benchmarks/bench_policy_tick.py`` measures the driver's side
(context, engine, progress save) in one process without Ray.
Everything started here (Temporal dev server, reference servers, Ray) is stopped at the end;
state lives in a temp dir. Prints only; not a test (on a shared 2-core machine the figures vary
by tens of percent, more when other jobs run: the load average is printed with them).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import logging
import math
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
from agents.runtime.gc_tuning import tune_for_loop
from orchestrator.config import PlantConfig, load_config
from policies.models import Decision

DEMO_PLANT = (
    Path(__file__).resolve().parents[1] / "orchestrator" / "plants" / "precision_components.toml"
)
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
STEP_S = 1.0  # plant time per tick: one scalar reading per asset per second
CROSSED = (Status.AMBER, Status.RED)


# ---- the plant ------------------------------------------------------------------------------
def bench_config(
    assets: int,
    *,
    ticks: int,
    wearing: float,
    waveform_share: float,
    waveform_every: int,
    commission: int,
    shard_size: int,
    seed: int,
    state_dir: Path,
    trend_window_s: float = 120.0,
    publish: str = "on_change",
    checkpoint_every_s: float | None = 60.0,
) -> PlantConfig:
    """The sample plant's people and policies with ``assets`` cloned mills and their twins.

    One reading per second per mill; the wearing ones cross amber within the run. The agents
    publish and save as ``[ray] publish`` / ``checkpoint_every_s`` say (a large 1-Hz plant's).
    """
    from orchestrator.temporal import free_port

    base = load_config(DEMO_PLANT, environ={})
    template = dict(base.machines[0])  # mill-1: spindle sensors, bearing, thresholds
    template.pop("commissioning_hours", None)
    template["commissioning_readings"] = commission
    # The bench's defects live seconds, not days: the trend window spans that life, as a
    # plant's 48 h spans a bearing's (every 1-Hz reading is a point of it; with 48 h one per
    # 86 s is, ``agents.machine.MAIN_TREND_POINTS``, and a 20-s run would fit no trend). The
    # drift tracks (``agents.drift``) read the same window: one point per 0.5 s of it.
    thresholds = {**template.get("thresholds", {}), "trend_window_h": trend_window_s / 3600}
    template["thresholds"] = thresholds
    rng = random.Random(seed)
    step_h = STEP_S / 3600.0
    machines, twins = [], []
    wear_ids = set(rng.sample(range(assets), k=round(assets * wearing)))
    wave_ids = set(rng.sample(range(assets), k=round(assets * waveform_share)))
    for i in range(assets):
        asset = f"mill-{i:03d}"
        line = base.lines[i % len(base.lines)].id
        machines.append(
            {**template, "id": asset, "name": f"bench mill {i}", "line": line, "bottleneck": False}
        )
        twin: dict[str, Any] = {
            "asset": asset,
            "twin": "spindle",
            "seed": seed * 1000 + i,
            "step_h": step_h,
            "waveform_every_h": waveform_every * step_h if i in wave_ids else math.inf,
            "waveform_offset": i % waveform_every,
        }
        if i in wear_ids:
            # Onsets after commissioning, spread over the run; the defect's life such that the
            # mill crosses amber (~40 % into it) before the run ends.
            onset = rng.uniform(commission + 5, max(commission + 6, 0.5 * ticks))
            life = max(10.0, (ticks - onset) / rng.uniform(0.5, 0.9))
            twin |= {"onset_h": onset * step_h, "life_h": life * step_h}
        else:
            twin |= {"onset_h": 10 * ticks * step_h + 1000.0, "life_h": 200.0}  # healthy all run
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
        ray={
            **data["ray"],
            "shard_size": shard_size,
            "namespace": f"bench-{uuid.uuid4().hex[:8]}",
            "publish": publish,
            "checkpoint_every_s": checkpoint_every_s,
        },
        endpoints={**data["endpoints"], "reference": {}},
    )
    return PlantConfig.model_validate(data)


# ---- measurement ----------------------------------------------------------------------------
class GcPauses:
    """``gc.callbacks`` hook: the driver's collection pauses by generation (they land inside
    whichever phase allocated last, so they are shown apart)."""

    def __init__(self) -> None:
        self.by_gen: dict[int, tuple[float, int]] = {}
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        t, n = self.by_gen.get(info["generation"], (0.0, 0))
        self.by_gen[info["generation"]] = (t + time.perf_counter() - self._t0, n + 1)


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
            # The step waiting for its readings' assessment (and the refresh beside it); with
            # pipelining the agents began before the step did, so less than "ingest (Ray)"
            (orch, "waiting for the agents", "_ingest_and_refresh"),
            # Starts run a few at a time: their wall time, not the sum of each start's
            (dispatch, "start_workflow", "act"),
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


def cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process on this machine, by role.

    Roles from the command line: this driver, the Ray actors (``ray::``), Ray's own services,
    the Temporal dev server, everything else. The loop's share of the two cores is the growth
    between two calls (``cpu_s`` in the output).
    """
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out: dict[str, float] = defaultdict(float)  # "role\tpid" -> CPU s (summed by role later)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(entry.name) == me:
            role = "driver (this process: loop, policies, starts)"
        elif cmd.startswith("ray::"):
            role = "Ray actors (agents)"
        elif "temporal" in cmd and "start-dev" in cmd:
            role = "Temporal dev server"
        elif "ray" in cmd:
            role = "Ray services (raylet, GCS, workers idle)"
        else:
            role = "other"
        out[f"{role}\t{entry.name}"] += used
    return out


def cpu_growth(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU s used between two ``cpu_by_process`` calls, by role: processes that ended meanwhile
    are left out (their last seconds are unknown), processes started meanwhile count from 0."""
    grown: dict[str, float] = defaultdict(float)
    for key, used in after.items():
        grown[key.split("\t")[0]] += used - before.get(key, 0.0)
    return {k: round(v, 2) for k, v in sorted(grown.items(), key=lambda kv: -kv[1])}


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


def bare_agents(config: PlantConfig, assets: int, rounds: int) -> dict[str, Any]:
    """The bench's first ``assets`` mills assessing ``rounds`` scalar readings each in this
    process, without Ray: one agent at a time (``MachineAgent.assess``) and the shard's way
    (``agents.machine_shard.assess_round``, reports built only on change): the floor under the
    fleet's ingest."""
    from agents.machine_shard import assess_round
    from agents.simulator.plant import PlantSim, SimulationSpec
    from orchestrator.assets import asset_specs

    sim_spec = dict(config.simulation or {})
    sim_spec["twins"] = list(sim_spec["twins"])[:assets]
    sim = PlantSim(SimulationSpec.model_validate(sim_spec), [], start=START)
    per_asset: dict[str, list[Reading]] = defaultdict(list)
    for _ in range(rounds):
        for r in sim.tick():
            per_asset[r.asset_id].append(Reading(asset_id=r.asset_id, time=r.time, values=r.values))
    ticks = [list(round_) for round_ in zip(*per_asset.values(), strict=False)]
    specs = {s.asset_id: s for s in asset_specs(config)}

    def agents() -> list[Any]:
        from agents.registry import build_agent

        return [build_agent(specs[r.asset_id]) for r in ticks[0]]

    one = agents()
    t0 = time.perf_counter()
    for tick in ticks:
        for agent, reading in zip(one, tick, strict=True):
            agent.assess(reading)
    per_asset_s = time.perf_counter() - t0
    shard = agents()
    t0 = time.perf_counter()
    published, last = 0, [None] * len(shard)
    for tick in ticks:
        for k, step in enumerate(assess_round(shard, tick)):
            assert not isinstance(step, Exception)
            if step.signature != last[k]:
                last[k] = step.signature
                shard[k].report(step)
                published += 1
    shard_s = time.perf_counter() - t0
    n = sum(len(t) for t in ticks)
    return {
        "readings": n,
        "per_asset_us_per_reading": round(1e6 * per_asset_s / n, 1),
        "shard_us_per_reading": round(1e6 * shard_s / n, 1),
        "shard_reports_built": published,
    }


SCALARS = ("spindle_vel", "bearing_temp", "spindle_load", "spindle_power")


def bare_numpy(ticks: Sequence[tuple[np.ndarray, list[np.ndarray]]], window: int = 8) -> float:
    """Seconds the same arithmetic takes as bare numpy on the run's own readings.

    Per tick (rows: the assets' readings; columns: the scalar sensors): robust z against a
    baseline, amber/red limits, the spread over the last ``window`` values (flatline), a
    least-squares slope from running sums (trend); per waveform rfft + RMS. No Python per asset.
    """
    first = ticks[0][0]
    early = [v for v, _ in ticks[:20] if v.shape == first.shape]
    med = np.nanmedian(np.stack(early), axis=0)
    scale = np.full_like(med, 0.1)
    amber, red = med * 1.5, med * 2.0
    ring = np.zeros((*first.shape, window))
    sums = np.zeros((5, *first.shape))
    t0 = time.perf_counter()
    for k, (values, waves) in enumerate(ticks):
        if values.shape != first.shape:
            continue
        z = (values - med) / scale
        level = (values >= amber).astype(np.int8) + (values >= red)
        ring[:, :, k % window] = values
        spread = ring.std(axis=2)
        t = float(k)
        sums[0] += 1.0
        sums[1] += t
        sums[2] += t * t
        sums[3] += values
        sums[4] += t * values
        n, st, stt, sy, sty = sums
        slope = (n * sty - st * sy) / np.maximum(n * stt - st * st, 1e-12)
        del z, level, spread, slope
        for w in waves:
            np.fft.rfft(w)
            float(np.sqrt(np.mean(w * w)))
    return time.perf_counter() - t0


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
    from orchestrator.runtime import Orchestrator
    from orchestrator.services import start_services

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        state_dir = Path(tmp) / "state"
        config = bench_config(
            args.assets,
            ticks=args.ticks,
            wearing=args.wearing,
            waveform_share=args.waveform_share,
            waveform_every=args.waveform_every,
            commission=args.commission,
            shard_size=args.shard_size,
            seed=args.seed,
            state_dir=state_dir,
            publish="every_reading" if args.every_report else "on_change",
            checkpoint_every_s=args.checkpoint_s or None,  # 0: after every batch
        )
        agents_alone = bare_agents(config, min(args.assets, 200), args.commission + 20)
        t_setup = time.perf_counter()
        services = await start_services(config, state_dir, ray_temp_dir=str(Path(tmp) / "ray"))
        orch = None
        try:
            # The agents' cadence comes from the plant's [ray] table, as with ``autoops run``:
            # reports on change (a 60-s heartbeat) unless --every-report, each agent saved every
            # --checkpoint-s, the turns spread over that time.
            orch = await Orchestrator.create(
                config, client=services.client, state_dir=state_dir, mes=None, start=START
            )
            setup_s = time.perf_counter() - t_setup
            # What set-up built (the plant's config, specs, twins, clients) lives as long as the
            # loop: frozen out of the collector, so a full collection walks only what the loop
            # made since (without it each full collection walked them all: 1 s a time).
            # The collector set as the loop process sets it (``agents.runtime.gc_tuning``; the
            # actors set theirs when they start).
            tune_for_loop()
            probe = Probe()
            probe.install(orch)
            gc_pauses = GcPauses()
            gc.callbacks.append(gc_pauses)
            assert orch.sim is not None
            # The plant's readings, made before the run: the simulation's own time is not the
            # loop's (``simulation_s``, shown apart). The orchestrator's clock is then set to the
            # last tick each step acts on, as the simulation would have moved it.
            t0 = time.perf_counter()
            plant = [orch.sim.tick() for _ in range(args.ticks)]
            sim_s = time.perf_counter() - t0
            orch.sim.ticks = 0
            seen: list[tuple[np.ndarray, list[np.ndarray]]] = [
                (
                    np.array(
                        [[r.values.get(k, np.nan) for k in SCALARS] for r in tick], dtype=float
                    ),
                    [w for r in tick for w in r.waveforms.values()],
                )
                for tick in plant
            ]
            loop_s = 0.0
            readings_n = reports_n = decisions_n = 0
            tick_s: list[float] = []  # each step's wall time
            lags: list[float] = []  # per tick: from its readings' arrival to its step's end
            each: list[dict[str, float]] = []
            last_phases: dict[str, float] = {}
            sent_at: list[float] = []  # per tick: when its readings went to the agents
            cpu_before = cpu_by_process()
            profile = cProfile.Profile() if args.profile else None
            if profile is not None:
                profile.enable()
            t_start = time.perf_counter()

            def plant_clock() -> float:  # the plant's clock: s since its first tick arrived
                return time.perf_counter() - t_start

            made = done = 0  # ticks handed to the agents / acted on

            def due() -> int:
                """Ticks at hand: back to back the next one; in real time all that arrived."""
                if args.back_to_back:
                    return min(args.ticks, made + 1)
                return min(args.ticks, math.floor(plant_clock() / STEP_S) + 1)

            def take() -> list[Reading]:
                nonlocal made
                upto = max(made, due())
                out = [r for k in range(made, upto) for r in plant[k]]
                sent_at.extend([time.perf_counter()] * (upto - made))
                made = upto
                return out

            # Pipelined (the default, as the live loop runs): the next step's readings go to the
            # agents once this step's are assessed (``Orchestrator.step(upcoming=...)``).
            upcoming = None if args.no_pipeline else take
            while done < args.ticks:
                if made == done:  # nothing handed ahead: wait for the next tick, then take it
                    if due() <= done:
                        await asyncio.sleep(max(0.0, done * STEP_S - plant_clock()))
                        continue
                    readings: list[Reading] | None = take()
                else:
                    readings = None  # the last step handed them to the agents already
                upto = made
                orch.sim.ticks = upto  # the plant's clock at the last tick this step acts on
                probe.tick_sent = sent_at[upto - 1]
                t1 = time.perf_counter()
                result = await orch.step(readings, upcoming=upcoming)
                t2 = time.perf_counter()
                loop_s += t2 - t1
                tick_s.append(t2 - t1)
                lags += [plant_clock() - k * STEP_S for k in range(done, upto)]
                # Where this step's time went: the phases' growth since the last step.
                now_phases = dict(probe.phases)
                each.append(
                    {
                        "ticks": upto - done,
                        "s": round(t2 - t1, 3),
                        "reports": len(result.reports),
                        **{
                            k: round(v - last_phases.get(k, 0.0), 3)
                            for k, v in now_phases.items()
                            if v - last_phases.get(k, 0.0) >= 0.005
                        },
                    }
                )
                last_phases = now_phases
                done = upto
                readings_n += result.readings
                reports_n += len(result.reports)
                decisions_n += len(result.decisions)
            wall_s = time.perf_counter() - t_start
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            cpu_after = cpu_by_process()
            cpu_s = cpu_growth(cpu_before, cpu_after)
            cpu_s["(wall time of the run, s)"] = round(wall_s, 2)
            gc.callbacks.remove(gc_pauses)
            bare_s = bare_numpy(seen)
            waveforms_n = sum(len(w) for _, w in seen)
            del seen
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
        "step_s": STEP_S,
        "shard_size": args.shard_size,
        "actors": -(-args.assets // args.shard_size),
        "waveform_assets": round(args.assets * args.waveform_share),
        "waveform_every_s": args.waveform_every * STEP_S,
        "waveforms": waveforms_n,
        "published": "every reading" if args.every_report else "on change + 60-s heartbeat",
        "checkpoint": {"every_s": args.checkpoint_s or None, "in_turns": bool(args.checkpoint_s)},
        "wearing": round(args.assets * args.wearing),
        "setup_s": round(setup_s, 1),
        "loop_s": round(loop_s, 2),
        "simulation_s": round(sim_s, 2),
        "readings": readings_n,
        "reports": reports_n,
        "decisions": decisions_n,
        "readings_per_s": round(readings_n / loop_s, 1),
        "arrivals": "back to back" if args.back_to_back else "real time (1 Hz)",
        # The loop needed no more time than the plant time its readings cover, and (readings
        # arriving in real time) was at most ``--max-lag`` behind the plant at the end.
        "keeps_up": loop_s <= args.ticks * STEP_S
        and (args.back_to_back or lags[-1] <= args.max_lag),
        "plant_s": args.ticks * STEP_S,
        "steps": len(tick_s),
        "step_wall_s": {
            "mean": round(loop_s / len(tick_s), 3),
            "p95": round(float(np.percentile(tick_s, 95)), 3),
            "max": round(max(tick_s), 3),
        },
        # Per tick: from its readings' arrival to the end of the step that acted on them.
        "lag_s": {
            "p50": round(float(np.percentile(lags, 50)), 2),
            "p95": round(float(np.percentile(lags, 95)), 2),
            "max": round(max(lags), 2),
            "last_tick": round(lags[-1], 2),
        },
        "each_step": each,
        "bare_numpy_s": round(bare_s, 3),
        # The driver's garbage collections during the loop, by generation (seconds, count).
        "gc_pauses": {g: [round(t, 2), n] for g, (t, n) in sorted(gc_pauses.by_gen.items())},
        "bare_numpy_readings_per_s": round(readings_n / bare_s, 1),
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
        # CPU seconds each kind of process used while the loop ran: on 2 cores the loop has 2 CPU-seconds per second of wall time.
        "cpu_s": cpu_s,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def print_table(r: dict[str, Any]) -> None:
    alone = r["agent_alone"]
    print(
        f"{r['assets']} machine assets at 1 Hz ({r['wearing']} wearing; {r['waveform_assets']} "
        f"with a 4096-sample waveform every {r['waveform_every_s']:g} s), {r['ticks']} ticks of "
        f"{r['step_s']:g} s, {r['actors']} actors of {r['shard_size']}, reports published "
        f"{r['published']}; set-up {r['setup_s']} s; load {r['load_before']} -> "
        f"{r['load_after']} on {r['cpus']} CPUs"
    )
    print(
        f"loop: {r['loop_s']} s for {r['readings']} readings ({r['waveforms']} waveforms) -> "
        f"{r['reports']} reports, {r['decisions']} decisions, {r['workflows_started']} workflows "
        f"{r['workflows_by_policy']}"
    )
    print(f"  {'readings/s end to end':<36s}{r['readings_per_s']:>10,.1f}")
    w, lag = r["step_wall_s"], r["lag_s"]
    print(
        f"  {'keeps up with real time':<36s}{'yes' if r['keeps_up'] else 'NO':>10s}   "
        f"({r['loop_s']} s of loop work for {r['plant_s']:g} s of plant time, readings arriving "
        f"{r['arrivals']}; {r['steps']} steps, mean {w['mean']} s, p95 {w['p95']} s, "
        f"max {w['max']} s; lag behind the plant p50 {lag['p50']} s, p95 {lag['p95']} s, "
        f"max {lag['max']} s, at the last tick {lag['last_tick']} s)"
    )
    print(
        f"  {'bare numpy, same arithmetic':<36s}{r['bare_numpy_readings_per_s']:>10,.1f}   "
        f"readings/s ({r['bare_numpy_s']} s in this run)"
    )
    print(f"  {'reports/s end to end':<36s}{r['reports_per_s']:>10,.1f}")
    print(
        f"  {'ticks/s':<36s}{r['ticks_per_s']:>10,.2f}   (simulation itself: {r['simulation_s']} s, not counted)"
    )
    print(
        f"  {'readings/s through ingest (Ray)':<36s}{r['ingest_readings_per_s']:>10,.1f}   "
        f"(in this process, no Ray, {alone['readings']} readings: one agent at a time "
        f"{alone['per_asset_us_per_reading']:,.0f} us/reading, as a shard "
        f"{alone['shard_us_per_reading']:,.0f} us/reading)"
    )
    print("where the loop's time went (s):")
    for name, seconds in r["phases_s"].items():
        print(f"  {name:<36s}{seconds:>10,.2f}  {100 * seconds / r['loop_s']:5.1f} %")
    print("CPU used while the loop ran (s; 2 cores give 2 s per s of wall time):")
    for name, seconds in r["cpu_s"].items():
        print(f"  {name:<48s}{seconds:>10,.2f}")
    pauses = ", ".join(f"gen {g}: {t} s in {n}" for g, (t, n) in r["gc_pauses"].items())
    print(f"  driver's garbage collections (inside the phases above): {pauses or 'none'}")
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
    parser.add_argument("--assets", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=20, help="seconds of plant time to run")
    parser.add_argument(
        "--no-pipeline",
        action="store_true",
        help="each step hands its own readings to the agents (no step's readings assessed "
        "while the last one decides): the loop as it ran before pipelining",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile this process during the loop only (set-up and the bare runs excluded) "
        "into FILE (pstats format); the figures then include the profiler's overhead",
    )
    parser.add_argument("--shard-size", type=int, default=1000, help="assets per Ray actor")
    parser.add_argument(
        "--wearing", type=float, default=0.02, help="fraction of assets with a bearing defect"
    )
    parser.add_argument(
        "--waveform-share", type=float, default=0.05, help="fraction of assets sending waveforms"
    )
    parser.add_argument(
        "--waveform-every", type=int, default=10, help="seconds between an asset's waveforms"
    )
    parser.add_argument(
        "--commission", type=int, default=8, help="readings that commission each mill's baseline"
    )
    parser.add_argument(
        "--every-report", action="store_true", help="publish a report per reading (no on-change)"
    )
    parser.add_argument(
        "--checkpoint-s",
        type=float,
        default=60.0,
        help="each agent saves its state this often (s; [ray] checkpoint_every_s), the turns "
        "spread over it; 0: every agent after every batch (the default without the setting: "
        "at 1 Hz five times the assessment)",
    )
    parser.add_argument(
        "--back-to-back",
        action="store_true",
        help="one step per tick, each as soon as the last ended (default: ticks arrive in real "
        "time and a step takes every tick that arrived meanwhile, as the live loop does)",
    )
    parser.add_argument(
        "--max-lag",
        type=float,
        default=2.0,
        help="keeps up: at most this many seconds behind the plant at the last tick",
    )
    parser.add_argument("--bare-starts", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    if (
        min(args.assets, args.ticks, args.shard_size, args.waveform_every, args.commission) < 1
        or not 0 <= args.wearing <= 1
        or not 0 <= args.waveform_share <= 1
        or not args.max_lag > 0
        or not args.checkpoint_s >= 0
    ):
        parser.error(
            "--assets, --ticks, --shard-size, --waveform-every, --commission must be >= 1; "
            "--wearing and --waveform-share in [0, 1]; --max-lag > 0; --checkpoint-s >= 0"
        )
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
