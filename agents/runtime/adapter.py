"""The one module that talks to Ray: starts or joins it, places agents in actors, calls them.

Everything else in autoops calls ``AgentFleet`` (and ``connect_ray`` / ``disconnect_ray``) and never
``.remote()`` or ``ray.get``. Calls are pipelined: ``ingest`` sends one batch per actor, then waits
once for all of them (a Ray call costs ~0.7 ms end to end; sequential waits would add up).

Fault model. Actors are created with ``max_restarts`` and ``max_task_retries``: when an actor dies
(killed, its worker or node lost) Ray starts it again with the same arguments, ``AssetActor``
restores its agents from the checkpoint store, and calls that were in flight are retried. A retried
``ingest`` is safe: readings already assessed are recognised by (asset, time), not assessed again,
and readings assessed after the last checkpoint come out with the same report ids as before.

Placement. One actor per asset (``asset:<id>``) by default; with ``shard_size > 1`` assets sorted by
id are cut into shards (``shard:<n>``). Names live in a Ray namespace, so a restarted orchestrator
finds its (detached) actors again with ``AgentFleet.start`` and the same specs. On a cluster, the
checkpoint store must be reachable from every node (see ``agents/runtime/checkpoint.py``) and
``spread=True`` places actors on different nodes; ``placement()`` says which node hosts which actor.
When a node is lost, Ray restarts its actors on the live nodes once it has declared the node dead
(health checks; a test cluster can shorten them with the ``health_check_*`` system settings) and
the calls waiting on them are retried there (until then they fail fast and are retried with
back-off, hence unbounded ``max_task_retries``). ``tests/agents/test_multinode.py`` shows it on this
machine: head + one worker node, 4 spread machine agents, the worker's processes SIGKILLed; with
1 s x 4 health checks the lost actors answer again from the head ~6 s later, restored, their
report sequence and the consumers' cursors continuing.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import ray
from pydantic import BaseModel, ConfigDict, Field
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from agents.base import Reading
from agents.errors import AgentRuntimeError, AutoopsError, ConfigError, InputError
from agents.models import HealthReport
from agents.registry import AgentBuilder, AgentSpec, build_agent
from agents.runtime.actor import (
    AssetActor,
    CheckpointPolicy,
    HostStats,
    PublishPolicy,
    ReportPage,
)
from agents.runtime.checkpoint import CheckpointStore, FileCheckpointStore
from agents.runtime.gc_tuning import tune_for_loop
from agents.runtime.tracing import carrier, ingest_span

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "autoops"
#: Where a local Ray listens unless the plant file says otherwise.
LOOPBACK = "127.0.0.1"


class _ActorProcessHost(AssetActor):
    """``AssetActor`` in its own Ray worker process: the process is the actor's alone, so its
    collector is set for a loop (``agents.runtime.gc_tuning``) once the agents are restored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tune_for_loop()


# Ray turns a class into an actor class without a running cluster; do it once.
_RemoteAssetActor = ray.remote(_ActorProcessHost)


class ActorOptions(BaseModel):
    """How asset actors are run. Defaults suit many small actors on a few cores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_restarts: int = Field(default=-1, ge=-1)  # -1: restart for ever
    # -1: retry until the actor answers or is known dead (safe: ingest is idempotent per reading).
    # A bounded count is not enough on a cluster: while a lost node is not yet declared dead (Ray's
    # health checks take ~15 s by default) every retry fails fast with ActorUnavailableError, and a
    # few retries (backed off from 100 ms) are used up long before the actor restarts elsewhere.
    # The caller still waits at most ``call_timeout_s``.
    max_task_retries: int = Field(default=-1, ge=-1)
    # Agents spend microseconds per reading; reserving a whole core each would cap a 2-core node
    # at two actors. A fraction still lets Ray account for them.
    num_cpus: float = Field(default=0.01, ge=0)
    lifetime: Literal["detached", "non_detached"] | None = None
    spread: bool = False  # place actors on different nodes (Ray's SPREAD strategy)
    outbox_size: int = Field(default=10_000, ge=1)
    checkpoint: CheckpointPolicy = CheckpointPolicy()
    publish: PublishPolicy = PublishPolicy()
    call_timeout_s: float = Field(default=120.0, gt=0)


class FleetPage(BaseModel):
    """Reports from every actor after a fleet cursor (a cursor per actor name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reports: tuple[HealthReport, ...]
    cursor: dict[str, int]
    missed: int = 0


def connect_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    temp_dir: str | None = None,
    log_to_driver: bool = True,
    node_ip_address: str = LOOPBACK,
    include_dashboard: bool = False,
) -> bool:
    """Start a local Ray (``address=None``) or join a cluster (``"auto"``, ``"ray://host:10001"``).

    A local Ray binds every one of its servers (GCS, raylet, workers, agents, dashboard) to
    ``node_ip_address``: loopback unless the plant file says otherwise. Returns ``False`` if Ray
    was already initialised in this process (nothing is changed then).
    """
    if ray.is_initialized():
        return False
    # No usage reporting from a factory network, and no dashboard unless a deployment asks for it.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {
        "namespace": namespace,
        "include_dashboard": include_dashboard,
        "log_to_driver": log_to_driver,
    }
    if address is not None:
        ray.init(address, **kwargs)
        return True
    kwargs.update(
        num_cpus=num_cpus,
        _node_ip_address=node_ip_address,
        # Ray's API server process runs even without the dashboard; it listens here.
        dashboard_host=node_ip_address,
    )
    if temp_dir is not None:
        kwargs["_temp_dir"] = temp_dir
    for attempt in range(1, _LOCAL_START_ATTEMPTS + 1):
        before = _ray_children()
        try:
            with _node_address_kept(node_ip_address):
                ray.init(address, **kwargs)
            return True
        except Exception as exc:  # noqa: BLE001  Ray raises a bare Exception for this one
            # Ray gives its raylet a fixed 30 s to register with the GCS; a busy machine can miss
            # it. Stop what the failed start left running and start again (a few times).
            if "timed out during startup" not in str(exc) or attempt == _LOCAL_START_ATTEMPTS:
                raise
            log.warning("local Ray did not come up (attempt %d of %d: %s); starting it again",
                        attempt, _LOCAL_START_ATTEMPTS, exc)
            _stop_processes(_ray_children() - before)
            ray.shutdown()
    return True


_LOCAL_START_ATTEMPTS = 3


def _ray_children() -> set[int]:
    """Pids of this process's descendants that belong to Ray (its GCS, raylet, agents, workers)."""
    import psutil  # Ray's own dependency

    pids: set[int] = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "ray" in " ".join(child.cmdline()).lower():
                pids.add(child.pid)
        except psutil.Error:
            continue
    return pids


def _stop_processes(pids: set[int], grace_s: float = 10.0) -> None:
    """Terminate ``pids``, then kill the ones still there after ``grace_s``."""
    import psutil

    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue


@contextmanager
def _node_address_kept(node_ip_address: str) -> Iterator[None]:
    """Let a loopback ``_node_ip_address`` reach Ray's servers as given.

    On Linux ``ray.init`` replaces a loopback node address by the machine's routable one (so other
    nodes could reach it), and Ray's servers bind to all interfaces unless the node address is
    exactly 127.0.0.1. Ray keeps loopback only where clusters are off (its own switch,
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``, read once at import): that switch is turned off for the
    duration of the start of a local, single-node Ray, and restored after.
    """
    from ray._private import ray_constants

    if node_ip_address != LOOPBACK or not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def disconnect_ray() -> None:
    """Leave Ray (a local instance started by ``connect_ray`` stops with it)."""
    if ray.is_initialized():
        ray.shutdown()


def _gather(calls: Sequence[tuple[str, Any]], method: str, timeout_s: float) -> list[Any]:
    """Wait for calls already in flight, in order; translate Ray's failures into ours, naming the
    actor. All calls were sent before the first wait, so waiting in turn costs no extra latency."""
    deadline = time.monotonic() + timeout_s
    results: list[Any] = []
    for name, ref in calls:
        try:
            results.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
        except RayTaskError as exc:
            # Our own errors raised inside the actor (bad input) reach the caller as themselves,
            # not wrapped in a Ray traceback; anything else is a bug and keeps Ray's context.
            if isinstance(exc.cause, AutoopsError):
                raise exc.cause from None
            raise
        except ActorUnavailableError as exc:
            raise AgentRuntimeError(
                f"{method} on actor {name!r}: the actor is unreachable and its retries are used "
                f"up ({type(exc).__name__}); its node may be lost and not yet declared dead: "
                "keep ActorOptions.max_task_retries at -1 (retry until restarted)"
            ) from exc
        except RayActorError as exc:
            raise AgentRuntimeError(
                f"{method} on actor {name!r}: the actor died and was not restarted "
                f"({type(exc).__name__}); check its Ray logs and its max_restarts budget"
            ) from exc
        except GetTimeoutError as exc:
            raise AgentRuntimeError(
                f"{method} on actor {name!r}: no answer within {timeout_s:g} s; the actor may be "
                "overloaded or its node lost: raise ActorOptions.call_timeout_s or check the cluster"
            ) from exc
    return results


class AgentFleet:
    """All asset actors of one namespace, and the routing of readings to them."""

    def __init__(
        self,
        *,
        namespace: str,
        store: CheckpointStore,
        options: ActorOptions,
        builder: AgentBuilder | None = None,
        process_setup: Callable[[], object] | None = None,
    ) -> None:
        if not ray.is_initialized():
            raise AgentRuntimeError("Ray is not running in this process; call connect_ray() first")
        self.namespace = namespace
        self.store = store
        self.options = options
        self._builder = builder
        self._process_setup = process_setup
        self._handles: dict[str, Any] = {}  # actor name -> handle
        self._route: dict[str, str] = {}  # asset id -> actor name

    @classmethod
    def start(
        cls,
        specs: Sequence[AgentSpec],
        *,
        shard_size: int = 1,
        namespace: str = DEFAULT_NAMESPACE,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        store: CheckpointStore | None = None,
        options: ActorOptions | None = None,
        builder: AgentBuilder | None = None,
        process_setup: Callable[[], object] | None = None,
        shard_prefix: str = "",
    ) -> AgentFleet:
        """Create (or find, if they exist in ``namespace``) the actors hosting ``specs``.

        Give ``checkpoint_dir`` (absolute) or a ``store``. Returns once every actor has started and
        restored its agents, so a bad spec fails here, not at the first reading. Shards are named
        ``<shard_prefix>shard:<n>`` (a prefix per loop partition keeps their names apart).
        ``process_setup`` runs in each actor's process before its agents are built (picklable,
        e.g. a module-level function: the orchestrator's telemetry configuration).
        """
        if shard_size < 1:
            raise ConfigError(f"shard_size must be at least 1, got {shard_size}")
        if store is None:
            if checkpoint_dir is None:
                raise ConfigError("give checkpoint_dir (an absolute directory) or a store")
            store = FileCheckpointStore(Path(checkpoint_dir))
        fleet = cls(
            namespace=namespace, store=store, options=options or ActorOptions(), builder=builder,
            process_setup=process_setup,
        )
        ordered = sorted(specs, key=lambda s: s.asset_id)
        ids = [s.asset_id for s in ordered]
        if len(set(ids)) != len(ids):
            duplicated = sorted({a for a in ids if ids.count(a) > 1})
            raise ConfigError(f"asset ids must be unique in a fleet; repeated: {duplicated}")
        # Build each agent once here: a bad configuration fails with our ConfigError in the
        # caller's process instead of as an actor that dies in its constructor on a worker.
        for spec in ordered:
            (builder or build_agent)(spec)
        if shard_size == 1:
            groups = [(f"asset:{s.asset_id}", [s]) for s in ordered]
        else:
            groups = [
                (f"{shard_prefix}shard:{n}", ordered[i : i + shard_size])
                for n, i in enumerate(range(0, len(ordered), shard_size))
            ]
        for name, group in groups:
            fleet._create(name, group)
        fleet._check_hosted(dict(groups))
        return fleet

    # -- placement ------------------------------------------------------------------------------

    def get_or_create(self, spec: AgentSpec) -> str:
        """The name of the actor hosting ``spec``'s asset; a new ``asset:<id>`` actor if none."""
        name = self._route.get(spec.asset_id)
        if name is None:
            name = f"asset:{spec.asset_id}"
            self._create(name, [spec])
            self._check_hosted({name: [spec]})
        return name

    def actor_name(self, asset_id: str) -> str:
        try:
            return self._route[asset_id]
        except KeyError:
            raise InputError(
                f"no actor hosts asset {asset_id!r} in namespace {self.namespace!r}; "
                "add it to the plant configuration (or call get_or_create with its spec)"
            ) from None

    def _create(self, name: str, specs: Sequence[AgentSpec]) -> None:
        opts = self.options
        actor_options: dict[str, Any] = {
            "name": name,
            "namespace": self.namespace,
            "get_if_exists": True,  # a restarted driver re-attaches to its detached actors
            "max_restarts": opts.max_restarts,
            "max_task_retries": opts.max_task_retries,
            "num_cpus": opts.num_cpus,
            "max_concurrency": 1,  # an agent's state is not thread-safe; calls run one at a time
        }
        if opts.lifetime is not None:
            actor_options["lifetime"] = opts.lifetime
        if opts.spread:
            actor_options["scheduling_strategy"] = "SPREAD"
        handle = _RemoteAssetActor.options(**actor_options).remote(
            name,
            list(specs),
            self.store,
            policy=opts.checkpoint,
            publish=opts.publish,
            outbox_size=opts.outbox_size,
            builder=self._builder,
            process_setup=self._process_setup,
        )
        self._handles[name] = handle
        for spec in specs:
            self._route[spec.asset_id] = name

    def _check_hosted(self, expected: Mapping[str, Sequence[AgentSpec]]) -> None:
        # Waits for every constructor (errors surface here) and catches an old actor of the same
        # name that hosts other assets (a detached fleet started with a different configuration).
        names = list(expected)
        stats: list[HostStats] = _gather(
            [(n, self._handles[n].stats.remote()) for n in names],
            "start",
            self.options.call_timeout_s,
        )
        for name, got in zip(names, stats, strict=True):
            want = sorted(s.asset_id for s in expected[name])
            if sorted(got.assets) != want:
                raise ConfigError(
                    f"actor {name!r} in namespace {self.namespace!r} already hosts "
                    f"{sorted(got.assets)}, not {want}; stop the old fleet (AgentFleet.stop) "
                    "or use another namespace"
                )

    # -- calls ----------------------------------------------------------------------------------

    def ingest(self, readings: Sequence[Reading]) -> list[HealthReport]:
        """Send readings to their actors (one call per actor, all in flight at once).

        Returns the reports, grouped by actor, in reading order within each asset.
        """
        batches: dict[str, list[Reading]] = defaultdict(list)
        for reading in readings:
            batches[self.actor_name(reading.asset_id)].append(reading)
        # The loop's span around the call; its context travels with each batch, and each actor
        # assesses inside a child span of it (agents/runtime/tracing.py).
        with ingest_span(readings, len(batches)):
            headers = carrier()
            calls = [(n, self._handles[n].ingest.remote(batch, headers)) for n, batch in batches.items()]
            results: list[list[HealthReport]] = _gather(calls, "ingest", self.options.call_timeout_s)
        return [report for result in results for report in result]

    def maintenance_done(self, asset_id: str, time: datetime) -> bool:
        """Tell ``asset_id``'s agent that maintenance was done at ``time`` (a bearing replaced):
        it re-commissions its condition monitoring (``MachineAgent.maintenance_done``). Saved by
        the actor before it answers; safe to retry (the same message twice changes nothing).
        Returns whether the agent changed (False also for agents that ignore the message)."""
        name = self.actor_name(asset_id)
        changed: list[bool] = _gather(
            [(name, self._handles[name].maintenance_done.remote(asset_id, time))],
            "maintenance_done",
            self.options.call_timeout_s,
        )
        return changed[0]

    def reports_since(
        self, cursor: Mapping[str, int] | None = None, *, limit_per_actor: int | None = None
    ) -> FleetPage:
        """Reports published after ``cursor`` (from the previous page; ``None`` for everything)."""
        cursor = cursor or {}
        names = list(self._handles)
        pages: list[ReportPage] = _gather(
            [
                (n, self._handles[n].reports_since.remote(cursor.get(n, 0), limit_per_actor))
                for n in names
            ],
            "reports_since",
            self.options.call_timeout_s,
        )
        return FleetPage(
            reports=tuple(r for page in pages for r in page.reports),
            cursor={**cursor, **{n: p.cursor for n, p in zip(names, pages, strict=True)}},
            missed=sum(p.missed for p in pages),
        )

    def latest(self) -> dict[str, HealthReport]:
        """The last report of every asset that has one."""
        merged: dict[str, HealthReport] = {}
        for part in self._call_all("latest"):
            merged.update(part)
        return merged

    def latest_of(self, asset_id: str) -> HealthReport | None:
        """The last report of one asset, from the actor that hosts it (``None`` before its first)."""
        name = self.actor_name(asset_id)
        part: list[dict[str, HealthReport]] = _gather(
            [(name, self._handles[name].latest.remote())], "latest", self.options.call_timeout_s
        )
        return part[0].get(asset_id)

    def stats(self) -> dict[str, HostStats]:
        """Per actor: incarnation, assets restored, readings assessed / duplicates / errors."""
        return dict(zip(self._handles, self._call_all("stats"), strict=True))

    def placement(self) -> dict[str, str]:
        """The Ray node id each actor runs on now (changes when a lost node's actors restart)."""
        nodes: list[str] = _gather(
            [(n, h.__ray_call__.remote(_node_id)) for n, h in self._handles.items()],
            "placement",
            self.options.call_timeout_s,
        )
        return dict(zip(self._handles, nodes, strict=True))

    def checkpoint(self) -> int:
        """Save every agent that changed since its last save (e.g. before a planned stop)."""
        return sum(self._call_all("checkpoint"))

    def kill(self, asset_id: str, *, restart: bool = True) -> str:
        """Kill the actor hosting ``asset_id`` as a crash would; Ray restarts it if ``restart``."""
        name = self.actor_name(asset_id)
        ray.kill(self._handles[name], no_restart=not restart)
        return name

    def stop(self) -> None:
        """Save state, then end every actor of this fleet (also detached ones); idempotent."""
        if not self._handles:
            return
        try:
            self.checkpoint()
        except AgentRuntimeError as exc:  # an actor already gone has nothing left to save
            log.warning("fleet %s: final checkpoint incomplete: %s", self.namespace, exc)
        for handle in self._handles.values():
            ray.kill(handle, no_restart=True)
        self._handles.clear()
        self._route.clear()

    def _call_all(self, method: str) -> list[Any]:
        return _gather(
            [(n, getattr(h, method).remote()) for n, h in self._handles.items()],
            method,
            self.options.call_timeout_s,
        )


def _node_id(_host: AssetActor) -> str:
    # Runs inside the actor (``__ray_call__``), so the host class itself stays free of Ray.
    return str(ray.get_runtime_context().get_node_id())
