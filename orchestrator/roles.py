"""The orchestrator's roles as processes: ``autoops worker``, ``autoops web`` and ``autoops loop``.

``autoops run`` runs them all in one process (``orchestrator.process.Stack``). Run separately,
each role is as many processes as the plant needs, on the shared engines: one Temporal cluster
(``[temporal] address``), the partners' own servers (``[endpoints]``), one Ray cluster for the
agents (``[ray] address``) and PostgreSQL for the shared state (``[state] url``):

- ``worker``: a Temporal worker of every workflow and activity on the plant's task queue (and the
  shift-report clock's). Replicate it freely: Temporal hands each task to one worker.
- ``web``: the web UI / API and the partners' callback intake. Replicate it behind one address:
  what a request needs (sessions, tokens, decisions) lives in the shared state, and everything
  it does goes to Temporal.
- ``loop``: ingest -> agents -> policies -> workflow starts, for the partitions of the plant's
  assets this process holds the lease of (``orchestrator/lease.py``). Start two or more for
  fail-over: a partition whose owner dies is taken over by another live loop process, which
  resumes from that partition's saved progress and agent checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agents.errors import AutoopsError, ConfigError
from orchestrator.config import PlantConfig

log = logging.getLogger(__name__)

ROLES = ("worker", "web", "loop")


def check_role_config(config: PlantConfig, role: str) -> None:
    """A role alone cannot start what ``autoops run`` embeds for itself: say what is missing."""
    problems = []
    if config.temporal.address is None:
        problems.append(
            "[temporal] address: name the Temporal server every role shares (e.g. address = "
            "\"temporal:7233\", or AUTOOPS_TEMPORAL_ADDRESS); only `autoops run` starts its own"
        )
    needed = {"worker": ("supplier", "cmms", "mes"), "loop": ("mes",), "web": ()}[role]
    missing = [name for name in needed if getattr(config.endpoints, name) is None]
    if missing:
        problems.append(
            f"[endpoints] {', '.join(missing)}: `autoops {role}` calls the partners' servers; give "
            "each a url (only `autoops run` starts the embedded reference servers)"
        )
    if problems:
        raise ConfigError(f"autoops {role}: " + "; ".join(problems))


def state_url(config: PlantConfig) -> str | None:
    """The shared state's database (``[state] url``), if the plant names one."""
    return config.state.url


async def open_shared_state(config: PlantConfig, state_dir: Path) -> Any:
    """The shared state (``orchestrator.state``), its schema migrated by one process at a time:
    the roles of a deployment start together, and first migrations of an empty database would
    race each other."""
    from orchestrator.lease import serialized
    from orchestrator.state import open_state

    return await asyncio.to_thread(
        serialized, state_url(config), "state-migrate", lambda: open_state(config, state_dir=state_dir)
    )


async def _connect_temporal(config: PlantConfig) -> Any:
    from orchestrator.temporal import connect

    return await connect(config.temporal, address=config.temporal.address)


def _telemetry(config: PlantConfig, role: str, state_dir: Path) -> Any:
    from orchestrator.process import partner_api_keys
    from orchestrator.services import callback_secret
    from orchestrator.telemetry import configure_telemetry

    secret = callback_secret(config, state_dir)
    configure_telemetry(
        service_name=f"autoops-{role}",
        state_dir=state_dir,
        secrets=[secret.get_secret_value(), *partner_api_keys(config)],
    )
    return secret


def _flush_telemetry() -> None:
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        if hasattr(provider, "force_flush"):
            provider.force_flush()


async def _until(stop: asyncio.Event, tasks: list[asyncio.Task[Any]]) -> None:
    """Wait for ``stop``, or for a task to end (its error ends the role)."""
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter:
                task.result()
                raise RuntimeError(f"{task.get_name()} ended by itself")
    finally:
        waiter.cancel()


# ---- worker ---------------------------------------------------------------------------------


def stock_ledger(config: PlantConfig, state: Any) -> Any:
    """The workflows' stock: initial on-hand from the plant file, kept in the shared state (every
    worker books reservations, receipts and issues in the same books)."""
    from workflows.common import StockLedger

    on_hand = {t["sku"]: 0 for t in config.inventory}
    for twin in config.simulation.get("twins", ()):
        if twin.get("twin") == "stock" and twin.get("asset") in on_hand:
            on_hand[twin["asset"]] = int(twin.get("initial_stock") or 0)
    return StockLedger(on_hand, path=state.stock_path, store=state.stock(on_hand))


async def run_worker(config: PlantConfig, stop: asyncio.Event, *, on_ready: Callable[[str], None] = print) -> None:
    """The Temporal worker role until ``stop``: finishes its running activities on the way out."""
    from orchestrator.process import partner_client
    from workflows.worker import WorkerDeps, build_worker

    check_role_config(config, "worker")
    state_dir = config.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    _telemetry(config, "worker", state_dir)
    client = await _connect_temporal(config)
    state = await open_shared_state(config, state_dir)
    endpoints = config.endpoints
    assert endpoints.supplier and endpoints.cmms and endpoints.mes
    http = {
        name: partner_client(endpoint.url, peer=name, endpoint=endpoint)
        for name, endpoint in (("supplier", endpoints.supplier), ("cmms", endpoints.cmms), ("mes", endpoints.mes))
    }
    clients: list[httpx.AsyncClient] = list(http.values())
    notifier = None
    workers: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []
    try:
        if config.notifications.enabled:
            from orchestrator.notify.service import Notifications

            hooks = httpx.AsyncClient(timeout=10.0)
            clients.append(hooks)
            notifier = Notifications.from_config(config, http=hooks, state_dir=state_dir)
        web_base = config.web.callback_url.rstrip("/") or f"http://{config.web.host}:{config.web.port}"
        deps = WorkerDeps.from_http(
            supplier=http["supplier"],
            cmms=http["cmms"],
            mes=http["mes"],
            stock=await asyncio.to_thread(stock_ledger, config, state),
            # No health lookup here: a maintenance workflow waits for the health its asset's loop
            # partition forwards (orchestrator/dispatch.forward_health).
            supplier_callback_url=f"{web_base}/callbacks/supplier",
            cmms_callback_url=f"{web_base}/callbacks/cmms",
            **({"notifier": notifier} if notifier is not None else {}),
        )
        workers.append(build_worker(client, deps, task_queue=config.temporal.task_queue))
        if not config.simulation and config.schedule.shifts:
            from orchestrator.report.clock import start_report_clock

            workers.append(await start_report_clock(client, config, state_dir))
        tasks = [asyncio.create_task(w.run(), name=f"temporal-worker-{i}") for i, w in enumerate(workers)]
        if notifier is not None:
            tasks.append(asyncio.create_task(notifier.run_digests(stop), name="digests"))
        on_ready(f"autoops worker for {config.site}: task queue {config.temporal.task_queue} at "
                 f"{config.temporal.address}; Ctrl-C to stop")
        await _until(stop, tasks)
    finally:
        for worker in workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.shutdown(), timeout=15)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for http_client in clients:
            await http_client.aclose()
        if notifier is not None:
            notifier.close()
        state.close()
        _flush_telemetry()


# ---- web ------------------------------------------------------------------------------------


class WebView:
    """What the web UI reads when no loop runs in its process: the shared state (sessions, tokens,
    decision log) and the alarms. The board shows no live tiles here: the loop processes hold the
    assets' reports."""

    def __init__(self, config: PlantConfig, state_dir: Path, state: Any) -> None:
        from orchestrator.alarms import AlarmService
        from orchestrator.clock import WALL_CLOCK
        from orchestrator.ledger import WorkflowLedger
        from orchestrator.progress import History

        self.config = config
        self.state = state
        self.clock = WALL_CLOCK  # a web-only process has no twin: the wall clock
        self.store = self.state.decisions()
        self.history = History()
        self.workflows = WorkflowLedger()
        self.alarms = AlarmService(self.state.alarms(), config)
        self.recorder: Any = None
        self.mes: Any = None

    def close(self) -> None:
        self.store.close()
        self.alarms.store.close()
        self.state.close()


async def run_web(config: PlantConfig, stop: asyncio.Event, *, on_ready: Callable[[str], None] = print) -> None:
    """The web UI / API and the callback intake until ``stop``."""
    from orchestrator.process import web_server

    check_role_config(config, "web")
    state_dir = config.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = _telemetry(config, "web", state_dir)
    client = await _connect_temporal(config)
    view = await asyncio.to_thread(WebView, config, state_dir, await open_shared_state(config, state_dir))
    server = web_server(config, client, config.temporal.ui_url.rstrip("/"), view, secret)
    task = asyncio.create_task(server.serve(), name="web")
    try:
        for _ in range(400):  # binds within a second or two; bounded wait
            if server.started:
                break
            if task.done():
                task.result()  # the bind error
            await asyncio.sleep(0.05)
        on_ready(f"autoops web for {config.site}: http://{config.web.host}:{config.web.port}/ ; Ctrl-C to stop")
        await _until(stop, [task])
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=15)
        seen = getattr(getattr(server.config.app, "state", None), "seen_events", None)
        if seen is not None:
            seen.close()
        view.close()
        _flush_telemetry()


# ---- loop -----------------------------------------------------------------------------------


class PartitionedLoop:
    """The loop over the partitions this process holds: one ``Orchestrator`` per partition, each
    with its own progress, agents and sources; started when its lease is taken, closed (progress
    saved) before the lease is handed over, dropped at once when the lease may be lost."""

    def __init__(self, config: PlantConfig, *, client: Any, mes: Any, leases: Any, state_dir: Path) -> None:
        self.config = config
        self.client = client
        self.mes = mes
        self.leases = leases
        self.state_dir = state_dir
        self.running: dict[int, Any] = {}
        self.failures: dict[int, int] = {}  # consecutive failed ticks per partition
        self.stepped: set[int] = set()  # partitions whose last step went through
        self.tick_s = 1.0  # the loop's tick: a partition behind it pipelines its steps

    async def _start(self, index: int) -> None:
        from orchestrator.partitions import Partition
        from orchestrator.runtime import Orchestrator

        log.info("loop: starting partition %d of %d", index, self.leases.partitions)
        orchestrator = await Orchestrator.create(
            self.config,
            client=self.client,
            state_dir=self.state_dir,
            mes=self.mes,
            partition=Partition(index, self.leases.partitions),
        )
        orchestrator.holds = lambda: index in self.leases.held()
        orchestrator.pipeline = True  # live sources behind: the next readings assessed meanwhile
        orchestrator.tick_s = self.tick_s
        if orchestrator.hub is not None:
            await orchestrator.hub.start()
        self.running[index] = orchestrator

    async def _stop(self, index: int, *, save: bool) -> None:
        orchestrator = self.running.pop(index)
        log.info("loop: stopping partition %d (%s)", index, "handing it over" if save else "lease lost")
        if orchestrator.hub is not None:
            with contextlib.suppress(Exception):
                await orchestrator.hub.stop()
        if save:
            try:
                await orchestrator.finish_ahead()  # readings the agents have: acted on here
            except Exception:  # noqa: BLE001  left unacknowledged: the next owner takes them
                log.exception("partition %d: the last readings handed ahead not acted on", index)
            with contextlib.suppress(Exception):  # the next owner's agents resume from here
                await asyncio.to_thread(orchestrator.fleet.checkpoint)
            orchestrator.close()
        else:  # another process may own it now: write nothing more of its progress
            orchestrator.drop_ahead(timeout_s=0)  # its readings: the new owner's to take
            orchestrator.store.close()
            orchestrator.alarms.store.close()
            if orchestrator.recorder is not None:
                orchestrator.recorder.store.close()
            orchestrator.state.close()

    async def rebalance(self) -> frozenset[int]:
        held = await asyncio.to_thread(self.leases.poll)
        for index in [i for i in self.running if i not in held]:
            await self._stop(index, save=False)
        for index in self.leases.excess():
            if index in self.running:
                await self._stop(index, save=True)
            self.leases.release(index)
        for index in sorted(self.leases.held() - set(self.running)):
            try:
                await self._start(index)
            except AutoopsError as exc:  # e.g. a dead owner's actor not yet gone: tried again
                log.warning("partition %d: could not start (%s); trying again", index, exc)
            except Exception:  # noqa: BLE001  unexpected: logged in full, tried again
                log.exception("partition %d: could not start; trying again", index)
        return frozenset(self.running)

    async def step(self, *, restart_after: int = 3) -> list[Any]:
        """One tick of every partition held. A partition whose ticks keep failing is brought up
        again from its saved progress (e.g. its actors were a dead owner's and died with it)."""
        from orchestrator.runtime import LeaseLostError

        results = []
        self.stepped = set()
        for index, orchestrator in list(self.running.items()):
            if index not in self.leases.held():
                continue
            try:
                results.append(await orchestrator.step())
                self.failures[index] = 0
                self.stepped.add(index)
            except LeaseLostError as exc:
                log.warning("%s", exc)
            except Exception as exc:  # noqa: BLE001  supervisor loop: log, keep going
                if isinstance(exc, AutoopsError):  # ours, and says what: e.g. an actor died
                    log.warning("partition %d: tick failed (%s); retrying at the next tick", index, exc)
                else:
                    log.exception("partition %d: tick failed; retrying at the next tick", index)
                self.failures[index] = self.failures.get(index, 0) + 1
                if self.failures[index] >= restart_after:
                    self.failures[index] = 0
                    await self._stop(index, save=False)  # started again by the next rebalance
        return results

    def pause_after_step(self, tick_s: float, elapsed_s: float) -> float:
        """The shortest pause a partition that just stepped asks for
        (``Orchestrator.pause_after_step``); a whole tick when none stepped (all failed, or
        none held)."""
        pauses = [
            self.running[i].pause_after_step(tick_s, elapsed_s)
            for i in self.stepped
            if i in self.running
        ]
        return min(pauses, default=tick_s)

    async def close(self) -> None:
        for index in list(self.running):
            await self._stop(index, save=index in self.leases.held())
        self.leases.close()


async def run_loop(
    config: PlantConfig,
    stop: asyncio.Event,
    *,
    tick_s: float = 1.0,
    on_ready: Callable[[str], None] = print,
    ray_temp_dir: str | None = None,
) -> None:
    """Lease partitions and tick them until ``stop``."""
    from orchestrator.lease import leases_for
    from orchestrator.process import partner_client
    from orchestrator.services import _join_ray
    from workflows.integrations.mes import MesClient

    check_role_config(config, "loop")
    state_dir = config.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    _telemetry(config, "loop", state_dir)
    client = await _connect_temporal(config)
    assert config.endpoints.mes is not None
    mes_http = partner_client(config.endpoints.mes.url, peer="mes", endpoint=config.endpoints.mes)
    (await open_shared_state(config, state_dir)).close()  # migrated before partitions open it
    leases = leases_for(state_url(config), site=config.site, partitions=config.loop.partitions)
    ray_started = await asyncio.to_thread(_join_ray, config, ray_temp_dir)
    loop = PartitionedLoop(config, client=client, mes=MesClient(mes_http), leases=leases, state_dir=state_dir)
    loop.tick_s = tick_s
    from agents.runtime.gc_tuning import tune_for_loop

    tuned = False
    try:
        on_ready(f"autoops loop for {config.site}: {config.loop.partitions} partition(s), "
                 f"leases {type(leases).__name__}; Ctrl-C to stop")
        owned: frozenset[int] | None = None
        polled = -float("inf")
        clock = asyncio.get_running_loop().time
        while not stop.is_set():
            if clock() - polled >= config.loop.lease_poll_s:
                polled = clock()
                now_owned = await loop.rebalance()
                if now_owned != owned:
                    owned = now_owned
                    on_ready(f"partitions owned: {','.join(map(str, sorted(owned))) or '-'}")
                if now_owned and not tuned:
                    # The partitions' loops are built: the process's long-lived state exists.
                    tune_for_loop()  # (agents.runtime.gc_tuning says why)
                    tuned = True
            began = clock()
            await loop.step()
            pause = loop.pause_after_step(tick_s, clock() - began)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
    finally:
        await loop.close()
        await mes_http.aclose()
        if ray_started:
            from agents.runtime.adapter import disconnect_ray

            disconnect_ray()
        _flush_telemetry()


# ---- run (every role in one process) ---------------------------------------------------------


async def hold_whole_plant(config: PlantConfig, orchestrator: Any) -> Any:
    """``autoops run`` on a shared PostgreSQL state: its loop runs the whole plant, so it must be
    the only loop. It holds the lease of the plant's single partition (the one an ``autoops loop``
    with ``[loop] partitions = 1`` takes) and acts only while it does; returns the polling task
    (None without PostgreSQL: then the state directory is this process's own). Cancel the task
    once the stack stopped (its last progress saved under the lease)."""
    from orchestrator.lease import PostgresLeases, leases_for

    if config.loop.partitions > 1:
        raise ConfigError(
            f"[loop] partitions = {config.loop.partitions}: `autoops run` runs the whole plant in "
            "one process; run the roles instead (autoops loop / worker / web), or set partitions = 1"
        )
    leases = leases_for(state_url(config), site=config.site, partitions=1)
    if not isinstance(leases, PostgresLeases):
        return None
    if not await asyncio.to_thread(leases.poll):
        leases.close()
        raise ConfigError(
            "another process runs this plant's loop (it holds the lease of its partition in the "
            "[state] database); stop it, or run this process's roles with `autoops worker` / `web`"
        )
    orchestrator.holds = lambda: 0 in leases.held()

    async def keep() -> None:  # until cancelled, after the stack saved its progress
        try:
            while True:
                await asyncio.to_thread(leases.poll)
                await asyncio.sleep(config.loop.lease_poll_s)
        finally:
            leases.close()

    return asyncio.create_task(keep(), name="lease")
