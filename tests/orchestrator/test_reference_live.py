"""The reference servers and the intake on real uvicorn on 127.0.0.1, talking real HTTP.

Covers what the workflows rely on: signed callbacks arrive and are accepted, forged and stale ones
are refused, a PO number orders once, knobs turn into the errors Temporal retries (5xx, 429,
timeouts) and the ones a person must see (4xx).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from agents.errors import RejectedByPartnerError, RetryableIntegrationError
from orchestrator.intake import create_intake_router
from orchestrator.reference.cmms import create_cmms_app
from orchestrator.reference.knobs import CmmsKnobs, SupplierKnobs
from orchestrator.reference.serve import (
    ReferenceStack,
    RunningServer,
    reference_servers,
    serve_app,
    start_reference_servers,
)
from orchestrator.reference.supplier import create_supplier_app
from orchestrator.temporal import free_port
from workflows.integrations.cmms import CmmsClient
from workflows.integrations.mes import MesClient
from workflows.integrations.models import CallbackEvent, EventType, OrderLine
from workflows.integrations.signing import signature_headers
from workflows.integrations.supplier import SupplierClient

pytestmark = pytest.mark.integration

SECRETS = {"supplier": "live-supplier-secret", "cmms": "live-cmms-secret"}
LINES = [OrderLine(sku="BRG-6308-ZZ", quantity=2)]


class Inbox:
    """What the intake handed on; filled from the intake server's thread."""

    def __init__(self) -> None:
        self.events: list[CallbackEvent] = []
        self._lock = threading.Lock()

    async def __call__(self, event: CallbackEvent) -> None:
        with self._lock:
            self.events.append(event)

    def types(self) -> list[tuple[EventType, str | None]]:
        with self._lock:
            return [(e.type, e.po_number or e.external_ref) for e in self.events]


async def wait_until(check: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def intake(inbox: Inbox) -> Iterator[RunningServer]:
    app = FastAPI()
    app.include_router(
        create_intake_router(
            secrets=SECRETS, on_event=inbox, clock=lambda: datetime.now(UTC), max_skew_s=300
        )
    )
    server = serve_app(app)
    yield server
    server.stop()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ReferenceStack]:
    running = start_reference_servers(
        tmp_path,
        callback_secrets=SECRETS,
        supplier_knobs=SupplierKnobs(confirm_delay_s=0.1, ship_delay_s=0.1),
        cmms_knobs=CmmsKnobs(),
    )
    yield running
    running.stop()


async def test_order_confirmed_and_shipped_by_signed_callbacks(
    stack: ReferenceStack, intake: RunningServer, inbox: Inbox
) -> None:
    async with httpx.AsyncClient(base_url=stack.supplier_url) as http:
        supplier = SupplierClient(http)
        callback = f"{intake.url}/callbacks/supplier"
        first = await supplier.place_order("PO-LIVE-1", LINES, "EUR", "plant-1", callback)
        again = await supplier.place_order("PO-LIVE-1", LINES, "EUR", "plant-1", callback)
        assert first.created and not again.created
        await wait_until(lambda: len(inbox.events) == 2)
        assert inbox.types() == [
            (EventType.ORDER_CONFIRMED, "PO-LIVE-1"),
            (EventType.ORDER_SHIPPED, "PO-LIVE-1"),
        ]
        assert inbox.events[1].payload["tracking_number"]
        order = await supplier.get_order("PO-LIVE-1")
        assert order is not None and order.status == "shipped"
        ledger = (await http.get("/orders")).json()["orders"]
        assert [o["po_number"] for o in ledger] == ["PO-LIVE-1"]  # exactly one order


async def test_work_order_completion_reaches_intake_with_our_reference(
    stack: ReferenceStack, intake: RunningServer, inbox: Inbox
) -> None:
    async with httpx.AsyncClient(base_url=stack.cmms_url) as http:
        cmms = CmmsClient(http)
        start = datetime(2026, 11, 30, 22, tzinfo=UTC)
        placed = await cmms.create_work_order(
            "mill-1",
            "P3",
            "Replace bearing",
            "",
            start,
            start + timedelta(hours=2),
            {},
            "maint:plant-1:mill-1",
            callback_url=f"{intake.url}/callbacks/cmms",
        )
        assert inbox.events == []  # nothing until a technician closes it
        done = await http.post(
            f"/work-orders/{placed.work_order.work_order_id}/complete",
            json={"completed_by": "tech-7", "notes": "done"},
        )
        assert done.status_code == 200
        await wait_until(lambda: len(inbox.events) == 1)
        assert inbox.types() == [(EventType.WORK_ORDER_COMPLETED, "maint:plant-1:mill-1")]
        assert inbox.events[0].payload["completed_by"] == "tech-7"


async def test_supplier_with_the_wrong_secret_is_refused_over_http(
    tmp_path: Path, intake: RunningServer, inbox: Inbox
) -> None:
    impostor_app = create_supplier_app(
        tmp_path,
        secret="not-the-shared-secret",
        knobs=SupplierKnobs(confirm_delay_s=0.0, ship_delay_s=None),
    )
    impostor = serve_app(impostor_app)
    try:
        async with httpx.AsyncClient(base_url=impostor.url) as http:
            await SupplierClient(http).place_order(
                "PO-FORGED", LINES, "EUR", "plant-1", f"{intake.url}/callbacks/supplier"
            )
            ledger = impostor_app.state.ledger
            await wait_until(lambda: bool(ledger.all("callbacks")))
        [delivery] = ledger.all("callbacks")
        assert delivery["status"] == 401 and not delivery["delivered"]
        assert delivery["attempts"] == 1  # a refusal is final, not retried
        assert inbox.events == []
    finally:
        impostor.stop()


async def test_stale_and_forged_posts_are_refused(intake: RunningServer, inbox: Inbox) -> None:
    now = datetime.now(UTC)
    body = (
        CallbackEvent(
            event_id="supplier:PO-X:confirmed",
            type=EventType.ORDER_CONFIRMED,
            source="supplier",
            occurred_at=now,
            po_number="PO-X",
        )
        .model_dump_json()
        .encode()
    )
    url = f"{intake.url}/callbacks/supplier"
    async with httpx.AsyncClient() as http:
        stale = await http.post(
            url,
            content=body,
            headers=signature_headers(SECRETS["supplier"], body, now - timedelta(minutes=10)),
        )
        forged = await http.post(url, content=body, headers=signature_headers("guess", body, now))
        good = await http.post(
            url, content=body, headers=signature_headers(SECRETS["supplier"], body, now)
        )
    assert (stale.status_code, forged.status_code, good.status_code) == (401, 401, 202)
    assert "stale" in stale.json()["reason"] and "forged" in forged.json()["reason"]
    assert inbox.types() == [(EventType.ORDER_CONFIRMED, "PO-X")]


async def test_knobs_map_to_retryable_and_rejected_errors(stack: ReferenceStack) -> None:
    async with (
        httpx.AsyncClient(base_url=stack.supplier_url) as http,
        httpx.AsyncClient(base_url=stack.mes_url) as mes_http,
    ):
        supplier = SupplierClient(http, timeout=0.5)
        for knobs, status in (({"error_rate": 1.0}, 503), ({"rate_limit_rate": 1.0}, 429)):
            await http.put("/admin/knobs", json={"error_rate": 0, "rate_limit_rate": 0, **knobs})
            with pytest.raises(RetryableIntegrationError) as info:
                await supplier.place_order("PO-KNOB", LINES, "EUR", "plant-1", None)
            assert info.value.status_code == status

        await http.put("/admin/knobs", json={"rate_limit_rate": 0, "latency_s": 1.5})
        with pytest.raises(RetryableIntegrationError) as slow:
            await supplier.place_order("PO-KNOB", LINES, "EUR", "plant-1", None)
        assert slow.value.reason == "timeout"

        await http.put("/admin/knobs", json={"latency_s": 0})
        with pytest.raises(RejectedByPartnerError) as bad:
            await supplier.place_order(
                "PO-KNOB-2", [OrderLine(sku="BRG-6308-ZZ", quantity=-1)], "EUR", "plant-1", None
            )
        assert "quantity must be > 0" in (bad.value.reason or "")

        # The slow call was still taken by the supplier after we gave up on it: asking again
        # (as a Temporal retry would) finds it and never doubles it.
        async def ledger() -> list[str]:
            return [o["po_number"] for o in (await http.get("/orders")).json()["orders"]]

        for _ in range(60):
            if await ledger():
                break
            await asyncio.sleep(0.05)
        retried = await supplier.place_order("PO-KNOB", LINES, "EUR", "plant-1", None)
        assert not retried.created
        assert await ledger() == ["PO-KNOB"]

        machines = await MesClient(mes_http).list_machines()
        assert len(machines) == 5


async def test_servers_unreachable_after_stop_is_retryable(tmp_path: Path) -> None:
    running = start_reference_servers(tmp_path, callback_secrets=SECRETS)
    url = running.mes_url
    running.stop()
    async with httpx.AsyncClient(base_url=url) as http:
        with pytest.raises(RetryableIntegrationError) as info:
            await MesClient(http, timeout=1.0).list_machines()
    assert "ConnectError" in str(info.value)


async def test_restarted_supplier_keeps_its_ledger_and_still_calls_back(
    tmp_path: Path, intake: RunningServer, inbox: Inbox
) -> None:
    callback = f"{intake.url}/callbacks/supplier"
    slow = SupplierKnobs(confirm_delay_s=60.0)  # stopped long before it would confirm
    with reference_servers(tmp_path, callback_secrets=SECRETS, supplier_knobs=slow) as first:
        async with httpx.AsyncClient(base_url=first.supplier_url) as http:
            placed = await SupplierClient(http).place_order(
                "PO-RESTART", LINES, "EUR", "plant-1", callback
            )
    assert placed.created and inbox.events == []
    quick = SupplierKnobs(confirm_delay_s=0.05, ship_delay_s=0.05)
    with reference_servers(tmp_path, callback_secrets=SECRETS, supplier_knobs=quick) as second:
        async with httpx.AsyncClient(base_url=second.supplier_url) as http:
            again = await SupplierClient(http).place_order(
                "PO-RESTART", LINES, "EUR", "plant-1", callback
            )
            assert not again.created
            assert again.order.supplier_order_id == placed.order.supplier_order_id
            await wait_until(lambda: len(inbox.events) == 2)
    assert [t for t, _ in inbox.types()] == [EventType.ORDER_CONFIRMED, EventType.ORDER_SHIPPED]


# A partner restarted while it still owed something (the demo restarts them with the
# orchestrator): what it promised before the restart still happens, once.


def _intake_on(port: int, inbox: Inbox) -> RunningServer:
    app = FastAPI()
    app.include_router(
        create_intake_router(
            secrets=SECRETS, on_event=inbox, clock=lambda: datetime.now(UTC), max_skew_s=300
        )
    )
    return serve_app(app, port=port)


async def _open_work_order(cmms_url: str, callback_url: str) -> str:
    async with httpx.AsyncClient(base_url=cmms_url) as http:
        start = datetime(2026, 11, 30, 22, tzinfo=UTC)
        placed = await CmmsClient(http).create_work_order(
            "mill-1", "P3", "Replace bearing", "", start, start + timedelta(hours=2), {},
            "maint:plant-1:mill-1", callback_url=callback_url,
        )
    return placed.work_order.work_order_id


async def test_restarted_cmms_still_auto_completes_an_open_work_order(
    tmp_path: Path, intake: RunningServer, inbox: Inbox
) -> None:
    before = serve_app(
        create_cmms_app(tmp_path, secret=SECRETS["cmms"], knobs=CmmsKnobs(auto_complete_delay_s=3600))
    )
    try:
        wo_id = await _open_work_order(before.url, f"{intake.url}/callbacks/cmms")
    finally:
        before.stop()  # killed while its auto-completion was still pending
    after_app = create_cmms_app(tmp_path, secret=SECRETS["cmms"], knobs=CmmsKnobs(auto_complete_delay_s=0.05))
    after = serve_app(after_app)
    try:
        await wait_until(lambda: len(inbox.events) >= 1)
        async with httpx.AsyncClient(base_url=after.url) as http:
            stored = await CmmsClient(http).get_work_order(wo_id)
        assert stored is not None and stored.status == "completed" and stored.completed_by == "auto"
        assert inbox.types() == [(EventType.WORK_ORDER_COMPLETED, "maint:plant-1:mill-1")]
    finally:
        after.stop()


async def test_completion_callback_lost_while_the_orchestrator_was_down_arrives_after_a_restart(
    tmp_path: Path, inbox: Inbox
) -> None:
    port = free_port()
    callback = f"http://127.0.0.1:{port}/callbacks/cmms"  # nobody listens there yet
    before_app = create_cmms_app(tmp_path, secret=SECRETS["cmms"], knobs=CmmsKnobs(auto_complete_delay_s=0))
    before = serve_app(before_app)
    try:
        await _open_work_order(before.url, callback)
        ledger = before_app.state.ledger
        await wait_until(lambda: any(not c["delivered"] for c in ledger.all("callbacks")))
    finally:
        before.stop()
    receiver = _intake_on(port, inbox)
    after = serve_app(create_cmms_app(tmp_path, secret=SECRETS["cmms"], knobs=CmmsKnobs(auto_complete_delay_s=0)))
    try:
        await wait_until(lambda: len(inbox.events) >= 1)
        assert inbox.types() == [(EventType.WORK_ORDER_COMPLETED, "maint:plant-1:mill-1")]
        assert inbox.events[0].payload["completed_by"] == "auto"
    finally:
        after.stop()
        receiver.stop()


async def test_supplier_callbacks_lost_before_a_restart_arrive_after_it(tmp_path: Path, inbox: Inbox) -> None:
    port = free_port()
    callback = f"http://127.0.0.1:{port}/callbacks/supplier"
    knobs = SupplierKnobs(confirm_delay_s=0.0, ship_delay_s=0.0)
    before_app = create_supplier_app(tmp_path, secret=SECRETS["supplier"], knobs=knobs)
    before = serve_app(before_app)
    try:
        async with httpx.AsyncClient(base_url=before.url) as http:
            await SupplierClient(http).place_order("PO-LOST-1", LINES, "EUR", "plant-1", callback)
        ledger = before_app.state.ledger
        await wait_until(lambda: ledger.get("orders", "PO-LOST-1")["order"]["status"] == "shipped")
    finally:
        before.stop()
    receiver = _intake_on(port, inbox)
    after = serve_app(create_supplier_app(tmp_path, secret=SECRETS["supplier"], knobs=knobs))
    try:
        await wait_until(lambda: len(inbox.events) >= 2)
        assert sorted(inbox.types()) == sorted(
            [(EventType.ORDER_CONFIRMED, "PO-LOST-1"), (EventType.ORDER_SHIPPED, "PO-LOST-1")]
        )
    finally:
        after.stop()
        receiver.stop()
