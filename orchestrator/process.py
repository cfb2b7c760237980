"""One orchestrator process: services, the Temporal worker, the web UI with the callback intake,
and the loop, with a clean stop on Ctrl-C / SIGTERM.

``Stack`` is what ``autoops demo`` and ``autoops run`` start; tests start it too (on free ports).
Stopping never loses work: the loop saves its progress after every tick, Temporal keeps the
workflows, and the next start resumes both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from orchestrator.clock import WALL_CLOCK, DeploymentClock
from orchestrator.collaborators import Feed
from orchestrator.config import Endpoint, PlantConfig
from orchestrator.runtime import Orchestrator, StepResult
from orchestrator.services import Services, callback_secret, start_services
from workflows.common import StockLedger
from workflows.integrations.http import DEFAULT_TIMEOUT
from workflows.integrations.models import CallbackEvent, EventType
from workflows.models import PartLine, workflow_id_for_ref

log = logging.getLogger(__name__)


class SimStockLedger(StockLedger):
    """The workflows' stock ledger; goods received and parts used also reach the simulated stock."""

    def __init__(
        self,
        *args: Any,
        on_receipt: Callable[[str, float], None],
        on_issue: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._on_receipt = on_receipt
        self._on_issue = on_issue

    async def issue(self, ref: str, lines: tuple[PartLine, ...]) -> bool:
        booked = await super().issue(ref, lines)
        if booked and self._on_issue is not None:
            for line in lines:
                self._on_issue(line.sku, line.quantity)
        return booked

    async def receive(self, ref: str, lines: tuple[PartLine, ...]) -> bool:
        booked = await super().receive(ref, lines)
        if booked:
            for line in lines:
                self._on_receipt(line.sku, line.quantity)
        return booked


def partner_client(
    base_url: str, *, peer: str = "", endpoint: Endpoint | None = None
) -> httpx.AsyncClient:
    """A traced client for one partner, configured from its ``[endpoints.<peer>]`` table.

    ``timeout_s`` bounds every call (connecting gets at most 3 s of it) and ``api_key_env``'s key
    goes in ``Authorization: Bearer`` on every request. The key lives only in the client's headers:
    httpx and the error boundary never put request headers in messages, and the spans carry no
    request headers. Each request is a CLIENT span (``peer.service`` names the partner) whose
    ``traceparent`` header lets the partner's server span join the trace.
    """
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    async def name_peer(span: Any, request: Any) -> None:
        if peer and span.is_recording():
            span.set_attribute("peer.service", peer)

    if endpoint is not None and endpoint.url != base_url:
        endpoint = None  # not this partner's table: the embedded reference server runs instead
    timeout = DEFAULT_TIMEOUT
    if endpoint is not None:
        timeout = httpx.Timeout(endpoint.timeout_s, connect=min(3.0, endpoint.timeout_s))
    key = endpoint.api_key() if endpoint is not None else None
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers={"Authorization": f"Bearer {key.get_secret_value()}"} if key else None,
    )
    HTTPXClientInstrumentor().instrument_client(client, request_hook=name_peer)
    return client


def partner_api_keys(config: PlantConfig) -> list[str]:
    """The partners' API keys, to be redacted wherever a span could show them."""
    endpoints = (config.endpoints.supplier, config.endpoints.cmms, config.endpoints.mes)
    keys = [e.api_key() for e in endpoints if e is not None]
    return [k.get_secret_value() for k in keys if k is not None]


@dataclass
class Stack:
    """Everything one orchestrator process runs. ``start`` -> ``run_loop`` / ``step`` -> ``stop``."""

    config: PlantConfig
    state_dir: Path
    services: Services
    orchestrator: Orchestrator
    web_url: str
    _server: uvicorn.Server
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _worker: Any = None
    _notifier: Any = None  # orchestrator.notify.Notifications when [notifications] names a channel
    _report_worker: Any = None  # the shift-report clock's (a plant on wall-clock time)

    @classmethod
    async def start(
        cls,
        config: PlantConfig,
        *,
        ray_temp_dir: str | None = None,
        start: datetime | None = None,
        fleet_options: Any = None,
        feed: Feed | None = None,
        clock: DeploymentClock | None = None,
    ) -> Stack:
        """``clock``: the deployment's one clock (``orchestrator/clock.py``); default wall time.
        The demo and ``autoops run`` of a simulated plant pass ``plant_clock(config, tick_s)``."""
        from orchestrator.telemetry import configure_telemetry

        state_dir = config.state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        secret = callback_secret(config, state_dir)
        configure_telemetry(
            service_name="autoops-orchestrator",
            state_dir=state_dir,
            secrets=[secret.get_secret_value(), *partner_api_keys(config)],
        )
        clock = clock or WALL_CLOCK
        services = await start_services(config, state_dir, ray_temp_dir=ray_temp_dir, clock=clock)
        clients: list[httpx.AsyncClient] = []
        try:
            from workflows.integrations.mes import MesClient
            from workflows.worker import WorkerDeps, build_worker

            endpoints = config.endpoints
            mes_http = partner_client(services.mes_url, peer="mes", endpoint=endpoints.mes)
            clients.append(mes_http)
            orchestrator = await Orchestrator.create(
                config,
                client=services.client,
                state_dir=state_dir,
                mes=MesClient(mes_http),
                start=start,
                fleet_options=fleet_options,
                feed=feed,
            )
            if clock.simulated_time:
                clock.attach(lambda: orchestrator.now)
                clock.keep_marks(state_dir / "plant-clock.jsonl")
                clock.mark()
            orchestrator.clock = clock
            orchestrator.pipeline = True  # live sources behind: the next readings assessed meanwhile
            orchestrator.dispatch.clock = clock.model
            orchestrator.alarms.clock = clock.now  # acknowledged / shelved / expired: plant time
            web_base = f"http://{config.web.host}:{config.web.port}"
            # Embedded reference servers (no [endpoints] table) get the defaults and no key.
            http = {
                name: partner_client(url, peer=name, endpoint=endpoint)
                for name, url, endpoint in (
                    ("supplier", services.supplier_url, endpoints.supplier),
                    ("cmms", services.cmms_url, endpoints.cmms),
                    ("mes", services.mes_url, endpoints.mes),
                )
            }
            clients += http.values()
            on_hand = {t["sku"]: 0 for t in config.inventory}
            for twin in config.simulation.get("twins", ()):
                if twin.get("twin") == "stock" and twin.get("asset") in on_hand:
                    on_hand[twin["asset"]] = int(twin.get("initial_stock") or 0)
            # The stock books: a JSON file in the state dir, or the shared state database.
            shared = orchestrator.state
            ledger = SimStockLedger(
                on_hand,
                path=shared.stock_path,
                store=await asyncio.to_thread(shared.stock, on_hand),
                on_receipt=orchestrator.on_goods_received,
                on_issue=orchestrator.on_parts_used,
            )
            notifier = None
            if config.notifications.enabled:
                from orchestrator.notify.service import Notifications

                hooks_http = httpx.AsyncClient(timeout=10.0)
                clients.append(hooks_http)
                notifier = Notifications.from_config(config, http=hooks_http, state_dir=state_dir)
            deps = WorkerDeps.from_http(
                supplier=http["supplier"],
                cmms=http["cmms"],
                mes=http["mes"],
                stock=ledger,
                health=orchestrator.asset_health,
                supplier_callback_url=f"{config.web.callback_url.rstrip('/') or web_base}/callbacks/supplier",
                cmms_callback_url=f"{config.web.callback_url.rstrip('/') or web_base}/callbacks/cmms",
                clock=clock.now,
                **({"notifier": notifier} if notifier is not None else {}),
            )
            worker = build_worker(services.client, deps, task_queue=config.temporal.task_queue)
            report_worker = None
            if not config.simulation and config.schedule.shifts:
                from orchestrator.report.clock import start_report_clock

                report_worker = await start_report_clock(services.client, config, state_dir, clock)
            server = cls._web_server(config, services, orchestrator, secret)
        except BaseException:
            for client in clients:
                await client.aclose()
            services.stop()
            raise
        stack = cls(config, state_dir, services, orchestrator, web_base, server, [], clients, worker,
                    _notifier=notifier, _report_worker=report_worker)
        try:
            if orchestrator.hub is not None:
                await orchestrator.hub.start()
                if orchestrator.feed is not None:
                    await orchestrator.feed.prime()
            stack._tasks.append(asyncio.create_task(worker.run(), name="temporal-worker"))
            if notifier is not None:
                stack._tasks.append(asyncio.create_task(notifier.run_digests(asyncio.Event()), name="digests"))
            if report_worker is not None:
                stack._tasks.append(asyncio.create_task(report_worker.run(), name="report-worker"))
            stack._tasks.append(asyncio.create_task(server.serve(), name="web"))
            for _ in range(200):  # the web server binds within a second; bounded wait
                if server.started:
                    break
                if stack._tasks[-1].done():
                    stack._tasks[-1].result()  # raises the bind error
                await asyncio.sleep(0.05)
        except BaseException:
            # A port taken since the preflight, a source that cannot start: nothing this start
            # began (Temporal dev server, Ray, partners, worker) may outlive the failed command.
            await stack.stop()
            raise
        return stack

    @staticmethod
    def _web_server(config: PlantConfig, services: Services, orchestrator: Orchestrator, secret: Any) -> uvicorn.Server:
        return web_server(config, services.client, services.temporal_ui_url, orchestrator, secret)

    async def step(self) -> StepResult:
        return await self.orchestrator.step()

    async def run_loop(
        self,
        stop: asyncio.Event,
        *,
        tick_s: float,
        max_ticks: int | None = None,
        on_step: Callable[[StepResult], Any] | None = None,
    ) -> None:
        """Tick until ``stop`` is set or ``max_ticks`` ran; a failed tick is logged and retried."""
        ticks = 0
        self.orchestrator.tick_s = tick_s  # a loop behind its tick pipelines its steps
        while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
            for task in self._tasks:
                if task.done():
                    task.result()  # a dead worker or web server ends the loop with its error
            began = time.monotonic()
            try:
                result = await self.step()
            except Exception:  # noqa: BLE001  supervisor loop: log, keep going
                log.exception("tick failed; retrying at the next tick")
                result = None
            self.orchestrator.clock.mark()
            ticks += 1
            if result is not None and on_step is not None:
                outcome = on_step(result)
                if asyncio.iscoroutine(outcome):
                    await outcome
            pause = self.orchestrator.pause_after_step(
                tick_s, time.monotonic() - began, failed=result is None
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)

    async def stop(self) -> None:
        """Stop the loop's helpers in order; what was in flight resumes at the next start."""
        if self.orchestrator.hub is not None:
            await self.orchestrator.hub.stop()  # what the sources hold goes to the disk buffer
        try:
            await self.orchestrator.finish_ahead()  # readings the agents have: acted on
        except Exception:  # noqa: BLE001  left unacknowledged: delivered again at the next start
            log.exception("the last readings handed to the agents were not acted on")
        self.orchestrator.close()
        self._server.should_exit = True
        for worker in (self._worker, self._report_worker):
            if worker is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(worker.shutdown(), timeout=15)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        seen = getattr(getattr(self._server.config.app, "state", None), "seen_events", None)
        if seen is not None:
            seen.close()
        for client in self._clients:
            await client.aclose()
        if self._notifier is not None:
            self._notifier.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.orchestrator.fleet.checkpoint)
        self.services.stop()
        from opentelemetry import metrics, trace

        # Flush before the process may end without atexit hooks (the CLI ends with os._exit):
        # the last spans and the last metric interval must still reach the file / collector.
        for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
            if hasattr(provider, "force_flush"):
                provider.force_flush()


def web_server(config: PlantConfig, client: Any, temporal_ui_url: str, view: Any, secret: Any) -> uvicorn.Server:
    """The web UI and the callback intake over ``view``: the loop's ``Orchestrator`` in one
    process (``autoops run``), or the shared state alone (``autoops web``: a ``roles.WebView``)."""
    from orchestrator.backend import PlantBackend
    from orchestrator.intake import create_intake_router
    from orchestrator.signals import signal_handler
    from orchestrator.web.app import create_app

    app = create_app(
        config,
        PlantBackend(client, view, temporal_ui_url),
        # Created / used / revoked times are shown on the tokens page: in the one clock.
        tokens=view.state.tokens(clock=view.clock.now),
        sessions=view.state.sessions(),
        alarms=view.alarms,
    )
    to_workflow = signal_handler(client)
    # On disk (or in the shared state database): a callback captured before a restart, or
    # by another web process, is still a replay.
    seen = view.state.seen_events()
    app.state.seen_events = seen

    async def on_event(event: CallbackEvent) -> None:
        await to_workflow(event)
        # The loop in this process repairs its twin and tells the agent; a web-only process
        # signals the workflow, whose health check asks the loop's side.
        if event.type == EventType.WORK_ORDER_COMPLETED and event.external_ref and hasattr(view, "on_work_order_completed"):
            await view.on_work_order_completed(workflow_id_for_ref(event.external_ref))
            await view.record_finding(workflow_id_for_ref(event.external_ref), event.payload)

    if getattr(view, "recorder", None) is not None:
        from orchestrator.report.web import create_report_router

        app.include_router(create_report_router(view.recorder.store))
    app.include_router(
        create_intake_router(
            secrets={"supplier": secret, "cmms": secret},
            on_event=on_event,
            clock=lambda: datetime.now(UTC),
            seen=seen,
        )
    )
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # ASGI send/receive spans add nothing a person reads in a trace.
        FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
    except Exception as exc:  # noqa: BLE001  tracing must never stop the UI
        log.warning("web UI not traced: %s", exc)
    uv_config = uvicorn.Config(
        app, host=config.web.host, port=config.web.port, log_level="warning", lifespan="off"
    )
    return EmbeddedServer(uv_config)


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our own event loop. The process's SIGINT / SIGTERM are ours
    (``install_stop_signals``, which stops the web server among the rest): uvicorn must neither
    take them nor raise them again on its way out, where the handler it restores may be Ray's,
    which ends the process at once (exit code 15) instead of the clean stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def install_stop_signals(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM set ``stop``: the loop finishes its tick and everything shuts down."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
