"""Bring up a loop: resume its progress, the simulation, the agent fleet, the policies and the sources."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.client import Client

from agents.simulator.plant import PlantSim, SimulationSpec
from agents.sources.hub import SourceHub
from orchestrator.assets import asset_specs, inventory_items
from orchestrator.collaborators import Feed, Mes
from orchestrator.config import PlantConfig
from orchestrator.partitions import Partition
from orchestrator.state import open_state
from policies.engine import EngineConfig, PolicyEngine

if TYPE_CHECKING:
    from orchestrator.runtime import Orchestrator

log = logging.getLogger(__name__)


def actor_options(config: PlantConfig) -> Any:
    """The agents' publishing and checkpoint cadence from the plant's ``[ray]`` table."""
    from agents.runtime.actor import CheckpointPolicy, PublishPolicy
    from agents.runtime.adapter import ActorOptions

    ray = config.ray
    every_s = ray.checkpoint_every_s
    return ActorOptions(
        checkpoint=CheckpointPolicy(every_readings=None, every_seconds=every_s)
        if every_s is not None
        else CheckpointPolicy(),
        publish=PublishPolicy(on_change=ray.publish == "on_change", heartbeat_s=ray.heartbeat_s),
    )


async def assemble(
    cls: type[Orchestrator],
    config: PlantConfig,
    *,
    client: Client,
    state_dir: Path,
    mes: Mes | None = None,
    start: datetime | None = None,
    fleet_options: Any = None,
    feed: Feed | None = None,
    partition: Partition | None = None,
) -> Orchestrator:
    """Resume from the state (the ``[state] url`` database, else the state directory's files)
    or start fresh, and bring up the agent fleet.

    With a ``partition`` the loop runs only that partition's assets (their actors, sources and
    readings) and keeps its own progress (``partition.key``); the simulation, if any, still
    plays the whole plant."""
    from agents.runtime.adapter import AgentFleet
    from orchestrator.telemetry import actor_process_setup
    from policies.loader import load_all

    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    state = await asyncio.to_thread(open_state, config, state_dir=state_dir)
    default_start = (start or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    partition = partition or Partition(0, 1)
    progress_store = state.progress()
    progress = await asyncio.to_thread(progress_store.load, partition.key, default_start)
    sim = None
    if config.simulation:
        spec = SimulationSpec.model_validate(config.simulation)
        sim = PlantSim(spec, inventory_items(config), start=progress.sim_start)
        if progress.ticks:
            log.info("resuming the simulation at tick %d", progress.ticks)
            sim.replay(progress.ticks, progress.journal)
    specs = [s for s in asset_specs(config) if partition.owns(s.asset_id)]
    fleet = await asyncio.to_thread(
        AgentFleet.start,
        specs,
        shard_prefix=f"p{partition.index}:" if partition.count > 1 else "",
        shard_size=config.ray.shard_size,
        namespace=config.ray.namespace,
        store=state.checkpoints(),
        options=fleet_options or actor_options(config),
        # The actors export their spans (agent.assessment) as this process does.
        process_setup=actor_process_setup(state_dir),
    )
    policies = [pf.loaded for pf in load_all(config.policies.extra_dirs)]
    engine = PolicyEngine(
        policies,
        EngineConfig.model_validate(
            {
                "parameters": config.policies.parameters,
                "budget": config.policies.budget,
                "autonomy": config.policies.autonomy,
            }
        ),
    )
    if progress.engine:
        engine.restore(progress.engine)
    store = state.decisions()
    hub = None
    # A partition reads only its own assets' tags (and buffers them in its own file).
    sources = tuple(
        spec.model_copy(update={"tags": tuple(t for t in spec.tags if partition.owns(t.asset))})
        for spec in config.source_specs()
    )
    sources = tuple(spec for spec in sources if spec.tags)
    if sources:
        from agents.sources.buffer import ReadingBuffer

        buffer = ReadingBuffer(state_dir / f"sources{partition.suffix}.sqlite")
        if feed is not None and sim is not None:
            # The feed flushes once a tick's readings all arrived; Modbus polls are stamped
            # with the time of the tick published (the simulation's, not the wall clock's).
            hub = SourceHub(sources, buffer, flush_every_s=None, clock=feed.clock)
            feed.attach(hub, sim.now)
        else:
            feed = None
            hub = SourceHub(sources, buffer)
    if sim is None:
        for asset in config.unsourced_assets():
            log.warning(
                "asset %r has no source and there is no simulation: it will not report; "
                "map its sensors to a [[sources]] tag in the plant file",
                asset,
            )
    from orchestrator.history.recorder import recorder_for

    # The history store (Learn): which policies watch each asset, for missed failures.
    watchers = {
        spec.asset_id: [(p.id, p.version) for p in (lp.policy for lp in policies)
                        if spec.kind in p.asset_kinds]
        for spec in specs
    }
    recorder = await asyncio.to_thread(recorder_for, config, state_dir, watchers)
    return cls(
        config,
        recorder=recorder,
        client=client,
        fleet=fleet,
        engine=engine,
        store=store,
        progress=progress,
        state_dir=state_dir,
        state=state,
        progress_store=progress_store,
        partition=partition,
        sim=sim,
        mes=mes,
        hub=hub,
        feed=feed,
    )

