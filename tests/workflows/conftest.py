"""One real Temporal dev server, one reference partner stack, one intake and one worker per session.

Everything listens on 127.0.0.1 and stops at the end of the session. Tests use unique business
keys (uuid) so they never see each other's workflows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from temporalio.client import Client

from orchestrator.intake import create_intake_router
from orchestrator.reference.common import utc_now
from orchestrator.reference.knobs import CmmsKnobs, SupplierKnobs
from orchestrator.reference.serve import (
    ReferenceStack,
    RunningServer,
    serve_app,
    start_reference_servers,
)
from orchestrator.signals import signal_handler
from orchestrator.temporal import DevServer, connect, start_dev_server
from workflows.common import StockLedger
from workflows.models import (
    ApprovalPolicy,
    ApprovalTier,
    HealthConfirmation,
    Notification,
    PartnerRetry,
)
from workflows.worker import WorkerDeps, build_worker

SECRETS = {"supplier": "supplier-test-secret", "cmms": "cmms-test-secret"}

#: The approval rules the tests run with: buyers up to 1000, plant manager up to 50 000 and
#: two signatures above 20 000.
POLICY = ApprovalPolicy(
    auto_approve_limit=500.0,
    tiers=(
        ApprovalTier(name="buyer", roles=("buyer",)),
        ApprovalTier(name="manager", above=1000.0, roles=("plant_manager",)),
        ApprovalTier(name="board", above=20_000.0, roles=("plant_manager",), min_approvers=2),
    ),
    role_limits={"buyer": 1000.0, "maintenance_lead": 2000.0, "plant_manager": 50_000.0},
)

#: Short retries so failure tests finish in seconds.
FAST_RETRY = PartnerRetry(timeout_s=5.0, initial_interval_s=0.2, backoff=2.0, max_interval_s=1.0, max_attempts=6)


@dataclass
class Stack:
    temporal: DevServer
    client: Client
    partners: ReferenceStack
    intake_url: str
    task_queue: str
    stock: StockLedger
    notes: list[Notification] = field(default_factory=list)
    health: dict[str, HealthConfirmation] = field(default_factory=dict)
    health_asked: Counter[str] = field(default_factory=Counter)  # asset -> times the source was asked

    def supplier_orders(self, po_number: str) -> list[dict[str, object]]:
        return [d for d in self.partners.supplier.app.state.ledger.all("orders") if d["order"]["po_number"] == po_number]

    def work_orders(self, external_ref: str) -> list[dict[str, object]]:
        return [
            d for d in self.partners.cmms.app.state.ledger.all("work_orders")
            if d["work_order"]["external_ref"].split("~", 1)[0] == external_ref  # one ref per run
        ]


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("act")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal(state_dir: Path) -> AsyncIterator[DevServer]:
    server = await start_dev_server(state_dir / "temporal")
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(temporal: DevServer) -> Client:
    return await connect(address=temporal.address)


@pytest.fixture(scope="session")
def intake(client: Client) -> Iterator[RunningServer]:
    app = FastAPI()
    app.include_router(create_intake_router(secrets=SECRETS, on_event=signal_handler(client), clock=utc_now))
    server = serve_app(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def partners(state_dir: Path) -> Iterator[ReferenceStack]:
    stack = start_reference_servers(
        state_dir / "partners",
        callback_secrets=SECRETS,
        supplier_knobs=SupplierKnobs(confirm_delay_s=0.1, ship_delay_s=0.1),
        cmms_knobs=CmmsKnobs(auto_complete_delay_s=None),
    )
    yield stack
    stack.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(
    temporal: DevServer, client: Client, partners: ReferenceStack, intake: RunningServer
) -> AsyncIterator[Stack]:
    stock = StockLedger({"BRG-6205-2RS": 2})
    result = Stack(temporal=temporal, client=client, partners=partners, intake_url=intake.url,
                   task_queue=unique("q-"), stock=stock)

    async def capture(note: Notification) -> None:
        result.notes.append(note)

    async def health(asset_id: str) -> HealthConfirmation | None:
        result.health_asked[asset_id] += 1
        return result.health.get(asset_id)

    http = [httpx.AsyncClient(base_url=url) for url in (partners.supplier_url, partners.cmms_url, partners.mes_url)]
    deps = WorkerDeps.from_http(
        supplier=http[0], cmms=http[1], mes=http[2], stock=stock, timeout_s=3.0,
        notifier=capture, health=health,
        supplier_callback_url=f"{intake.url}/callbacks/supplier",
        cmms_callback_url=f"{intake.url}/callbacks/cmms",
    )
    worker = build_worker(client, deps, task_queue=result.task_queue)
    task = asyncio.create_task(worker.run())
    yield result
    await worker.shutdown()
    await task
    for h in http:
        await h.aclose()
