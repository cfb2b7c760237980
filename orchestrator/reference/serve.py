"""Run ASGI apps on uvicorn on loopback, each in its own thread: the reference trio for the demo
and tests, or any app (the intake) a test needs on a real port.

    stack = start_reference_servers(state_dir, callback_secrets={"supplier": s1, "cmms": s2})
    # or: with reference_servers(state_dir, callback_secrets=...) as stack: ...
    stack.supplier_url, stack.cmms_url, stack.mes_url   # http://127.0.0.1:<free port>
    stack.supplier.app.state.knobs.update({"error_rate": 0.5})
    stack.stop()

Threads, not asyncio tasks, so a synchronous caller (the demo command) and an asyncio test alike
can start and stop the servers; each thread runs its own event loop.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from orchestrator.reference.cmms import create_cmms_app
from orchestrator.reference.common import Clock, utc_now
from orchestrator.reference.knobs import CmmsKnobs, Knobs, SupplierKnobs
from orchestrator.reference.ledger import Ledger
from orchestrator.reference.mes import create_mes_app
from orchestrator.reference.mes_plan import DEFAULT_PLANT, PlantPlan
from orchestrator.reference.supplier import DEFAULT_CATALOG, CatalogItem, create_supplier_app

LOOPBACK = "127.0.0.1"


@dataclass
class RunningServer:
    """One app served by uvicorn in a daemon thread."""

    app: Any
    url: str
    _server: uvicorn.Server
    _thread: threading.Thread

    def request_stop(self) -> None:
        self._server.should_exit = True

    def stop(self, timeout_s: float = 10.0) -> None:
        self.request_stop()
        self._thread.join(timeout_s)
        ledger = getattr(getattr(self.app, "state", None), "ledger", None)
        if isinstance(ledger, Ledger):
            ledger.close()


def serve_app(
    app: Any, *, host: str = LOOPBACK, port: int = 0, startup_timeout_s: float = 10.0
) -> RunningServer:
    """Serve ``app`` on ``host:port`` (0: a free port) and return once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"server for {app!r} did not start on {host}:{bound_port}")
        time.sleep(0.01)
    return RunningServer(app=app, url=f"http://{host}:{bound_port}", _server=server, _thread=thread)


@dataclass
class ReferenceStack:
    supplier: RunningServer
    cmms: RunningServer
    mes: RunningServer
    extra: list[RunningServer] = field(default_factory=list)

    @property
    def supplier_url(self) -> str:
        return self.supplier.url

    @property
    def cmms_url(self) -> str:
        return self.cmms.url

    @property
    def mes_url(self) -> str:
        return self.mes.url

    def stop(self) -> None:
        servers = (self.supplier, self.cmms, self.mes, *self.extra)
        for server in servers:  # all at once: each takes a few poll intervals to wind down
            server.request_stop()
        for server in servers:
            server.stop()


def start_reference_servers(
    state_dir: Path,
    *,
    callback_secrets: Mapping[str, SecretStr | str],
    supplier_knobs: SupplierKnobs | None = None,
    cmms_knobs: CmmsKnobs | None = None,
    mes_knobs: Knobs | None = None,
    plan: PlantPlan = DEFAULT_PLANT,
    cmms_assets: Collection[str] | None = None,
    catalog: tuple[CatalogItem, ...] = DEFAULT_CATALOG,
    clock: Clock = utc_now,
    host: str = LOOPBACK,
    api_keys: Mapping[str, SecretStr | str] | None = None,
) -> ReferenceStack:
    """Start supplier, CMMS and MES on free ports of ``host``; ledgers live in ``state_dir``.

    ``callback_secrets`` holds the HMAC secret per sender (``"supplier"``, ``"cmms"``): the same
    mapping the orchestrator's intake verifies with. ``cmms_assets``: asset ids the CMMS knows
    (None accepts any). ``api_keys``: per server (``"supplier"``, ``"cmms"``, ``"mes"``), the
    bearer key its API requires (none: open, as for the demo).
    """
    keys = api_keys or {}
    state_dir = Path(state_dir)
    apps: list[FastAPI] = [
        create_supplier_app(
            state_dir,
            secret=callback_secrets["supplier"],
            knobs=supplier_knobs,
            catalog=catalog,
            clock=clock,
            api_key=keys.get("supplier"),
        ),
        create_cmms_app(
            state_dir,
            secret=callback_secrets["cmms"],
            knobs=cmms_knobs,
            assets=cmms_assets,
            clock=clock,
            api_key=keys.get("cmms"),
        ),
        create_mes_app(state_dir, plan=plan, knobs=mes_knobs, clock=clock, api_key=keys.get("mes")),
    ]
    from orchestrator.telemetry import instrument_partner_app

    # Each server's spans continue the caller's trace (traceparent) under its own service name;
    # a no-op unless the process configured telemetry.
    for name, app in zip(("supplier", "cmms", "mes"), apps, strict=True):
        instrument_partner_app(app, f"reference-{name}")
    started: list[RunningServer] = []
    try:
        for app in apps:
            started.append(serve_app(app, host=host))
    except BaseException:
        for server in started:
            server.stop()
        raise
    return ReferenceStack(supplier=started[0], cmms=started[1], mes=started[2])


@contextmanager
def reference_servers(state_dir: Path, **options: Any) -> Iterator[ReferenceStack]:
    """``start_reference_servers`` as a context manager: stopped on exit, also on errors."""
    stack = start_reference_servers(state_dir, **options)
    try:
        yield stack
    finally:
        stack.stop()
