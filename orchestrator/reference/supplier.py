"""Reference supplier: takes purchase orders, confirms and ships them with signed callbacks.

cXML semantics as JSON: ``POST /orders`` is the OrderRequest; after ``confirm_delay_s`` the
supplier sends ``order.confirmed`` (ConfirmationRequest), after ``ship_delay_s`` more
``order.shipped`` (ShipNoticeRequest) to the order's ``callback_url``. On a simulated plant clock
(the demo) the delays are plant seconds and the goods ship on their expected delivery date (the
catalogue's lead time after confirmation), so a 72 h lead time takes 72 plant hours. The PO number is the
idempotency key: a repeat returns the stored order with 200 (201 when new); the same PO number
with different content is refused with 409.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from orchestrator.reference.common import (
    Background,
    CallbackSender,
    Clock,
    Refusal,
    make_app,
    on_plant_clock,
    plant_sleep,
    utc_now,
)
from orchestrator.reference.knobs import KnobPanel, SupplierKnobs
from orchestrator.reference.ledger import Ledger
from workflows.integrations.models import (
    CallbackEvent,
    EventType,
    OrderLine,
    OrderList,
    OrderRequest,
    OrderStatus,
    SupplierOrder,
)

log = logging.getLogger(__name__)


class CatalogItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str
    description: str
    unit_price: float = Field(ge=0)
    lead_time_days: int = Field(default=3, ge=0)


DEFAULT_CATALOG: tuple[CatalogItem, ...] = (
    CatalogItem(
        sku="BRG-6205-2RS", description="deep groove ball bearing 6205-2RS", unit_price=14.5
    ),
    CatalogItem(sku="BRG-6308-ZZ", description="deep groove ball bearing 6308-ZZ", unit_price=38.0),
    CatalogItem(
        sku="SPINDLE-CART-24K",
        description="spindle cartridge 24k rpm",
        unit_price=4200.0,
        lead_time_days=10,
    ),
    CatalogItem(sku="BELT-XPZ-1250", description="V-belt XPZ 1250", unit_price=22.0),
    CatalogItem(sku="FILTER-HYD-10U", description="hydraulic filter 10 micron", unit_price=65.0),
    CatalogItem(sku="THERMO-K-300", description="thermocouple type K 300 mm", unit_price=48.0),
    CatalogItem(
        sku="HEATER-ELEM-9KW",
        description="furnace heating element 9 kW",
        unit_price=890.0,
        lead_time_days=7,
    ),
)

ACCEPTED_CURRENCIES = ("EUR", "USD")


def create_supplier_app(
    state_dir: Path,
    *,
    secret: SecretStr | str,
    knobs: SupplierKnobs | None = None,
    catalog: tuple[CatalogItem, ...] = DEFAULT_CATALOG,
    clock: Clock = utc_now,
    api_key: SecretStr | str | None = None,
) -> FastAPI:
    """The supplier app; its ledger is ``state_dir / "supplier.sqlite"``."""
    ledger = Ledger(Path(state_dir) / "supplier.sqlite")
    panel: KnobPanel[SupplierKnobs] = KnobPanel(knobs or SupplierKnobs())
    background = Background()
    sender = CallbackSender(
        source="supplier",
        secret=secret if isinstance(secret, SecretStr) else SecretStr(secret),
        ledger=ledger,
        clock=clock,
    )
    prices = {item.sku: item for item in catalog}

    def resume() -> None:
        # A restarted supplier still owes the callbacks of orders it accepted before: the steps
        # not taken yet, and the callbacks of steps taken that never reached the buyer.
        for doc in ledger.all("orders"):
            order = SupplierOrder.model_validate(doc["order"])
            url = doc.get("callback_url")
            if not url:
                continue
            reached = {
                OrderStatus.RECEIVED: (),
                OrderStatus.CONFIRMED: (OrderStatus.CONFIRMED,),
                OrderStatus.SHIPPED: (OrderStatus.CONFIRMED, OrderStatus.SHIPPED),
            }.get(order.status, ())
            for kind in reached:
                event = callback_event(order, kind)
                if not sender.delivered(url, event):
                    background.spawn(deliver(url, event))
            if order.status is not OrderStatus.SHIPPED:
                background.spawn(fulfil(order.po_number))

    app = make_app(
        "autoops reference supplier", panel, ledger, background, on_startup=resume, api_key=api_key
    )

    def load(po_number: str) -> tuple[SupplierOrder, dict[str, Any]] | None:
        doc = ledger.get("orders", po_number)
        return None if doc is None else (SupplierOrder.model_validate(doc["order"]), doc)

    def save(order: SupplierOrder, doc: dict[str, Any]) -> None:
        ledger.put("orders", order.po_number, {**doc, "order": order.model_dump(mode="json")})

    async def advance(po_number: str, to: OrderStatus) -> None:
        loaded = load(po_number)
        if loaded is None:
            return
        order, doc = loaded
        now = clock()
        if to is OrderStatus.CONFIRMED and order.status is OrderStatus.RECEIVED:
            lead = max(
                (prices[line.sku].lead_time_days for line in order.lines if line.sku in prices),
                default=3,
            )
            order = order.model_copy(
                update={
                    "status": to,
                    "confirmed_at": now,
                    "expected_delivery": now + timedelta(days=lead),
                }
            )
        elif to is OrderStatus.SHIPPED and order.status is OrderStatus.CONFIRMED:
            order = order.model_copy(
                update={
                    "status": to,
                    "shipped_at": now,
                    "carrier": "DHL",
                    "tracking_number": f"TRK{order.supplier_order_id[3:]}",
                }
            )
        else:
            return
        save(order, doc)
        url = doc.get("callback_url")
        if url:
            event = callback_event(order, to)
            if not await sender.send(url, event) and not sender.refused(url, event):
                background.spawn(deliver(url, event, after_failure=True))  # fulfilment goes on

    def callback_event(order: SupplierOrder, kind: OrderStatus) -> CallbackEvent:
        """The callback for ``order`` having reached ``kind`` (confirmed or shipped)."""
        if kind is OrderStatus.CONFIRMED:
            payload: dict[str, Any] = {
                "supplier_order_id": order.supplier_order_id,
                "expected_delivery": order.expected_delivery.isoformat()
                if order.expected_delivery
                else None,
                "lines": [line.model_dump() for line in order.lines],
                "total": order.total,
                "currency": order.currency,
            }
            occurred_at, event_type = order.confirmed_at, EventType.ORDER_CONFIRMED
        else:
            payload = {
                "supplier_order_id": order.supplier_order_id,
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "lines": [line.model_dump() for line in order.lines],
            }
            occurred_at, event_type = order.shipped_at, EventType.ORDER_SHIPPED
        return CallbackEvent(
            event_id=f"supplier:{order.po_number}:{kind.value}",
            type=event_type,
            source="supplier",
            occurred_at=occurred_at or clock(),
            po_number=order.po_number,
            payload=payload,
        )

    async def deliver(url: str, event: CallbackEvent, after_failure: bool = False) -> None:
        await sender.deliver(url, event, after_failure=after_failure)

    async def fulfil(po_number: str) -> None:
        for to, delay_of in (
            (OrderStatus.CONFIRMED, "confirm_delay_s"),
            (OrderStatus.SHIPPED, "ship_delay_s"),
        ):
            delay = getattr(panel.knobs, delay_of)
            if delay is None:
                return  # held: the admin endpoint advances it
            await plant_sleep(clock, delay)
            loaded = load(po_number)
            if to is OrderStatus.SHIPPED and on_plant_clock(clock) and loaded and loaded[0].expected_delivery:
                await clock.sleep_until(loaded[0].expected_delivery)  # type: ignore[attr-defined]
            await advance(po_number, to)

    def fingerprint(request: OrderRequest) -> dict[str, Any]:
        return {
            "lines": [[line.sku, line.quantity] for line in request.lines],
            "currency": request.currency,
            "ship_to": request.ship_to.model_dump(),
        }

    def check(request: OrderRequest) -> None:
        problems: list[str] = []
        if not request.po_number.strip():
            problems.append("po_number is empty")
        if not request.lines:
            problems.append("an order needs at least one line")
        for n, line in enumerate(request.lines, start=1):
            if line.sku not in prices:
                problems.append(f"line {n}: unknown SKU {line.sku!r}")
            if line.quantity <= 0:
                problems.append(f"line {n}: quantity must be > 0, got {line.quantity}")
        if request.currency not in ACCEPTED_CURRENCIES:
            problems.append(
                f"currency {request.currency!r} not accepted; use {ACCEPTED_CURRENCIES}"
            )
        if problems:
            raise Refusal("; ".join(problems))

    @app.post("/orders", response_model=SupplierOrder)
    async def place_order(
        request: OrderRequest,
        response: Response,
        idempotency_key: str | None = Header(default=None),
    ) -> SupplierOrder:
        if idempotency_key is not None and idempotency_key != request.po_number:
            raise Refusal(
                f"Idempotency-Key {idempotency_key!r} differs from po_number "
                f"{request.po_number!r}; they must be equal"
            )
        existing = load(request.po_number)
        if existing is not None:
            order, doc = existing
            if doc["fingerprint"] != fingerprint(request):
                raise Refusal(
                    f"PO {request.po_number!r} was already used for a different order; "
                    "allocate a new PO number",
                    status=409,
                )
            response.status_code = 200
            return order
        check(request)
        lines = tuple(
            OrderLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=prices[line.sku].unit_price,
                description=line.description or prices[line.sku].description,
            )
            for line in request.lines
        )
        order = SupplierOrder(
            po_number=request.po_number,
            supplier_order_id=f"SO-{ledger.next_number('orders'):06d}",
            status=OrderStatus.RECEIVED,
            lines=lines,
            currency=request.currency,
            total=round(sum(line.quantity * line.unit_price for line in lines), 2),
            ship_to=request.ship_to,
            created_at=clock(),
        )
        stored, created = ledger.insert_if_absent(
            "orders",
            order.po_number,
            {
                "order": order.model_dump(mode="json"),
                "callback_url": request.callback_url,
                "fingerprint": fingerprint(request),
            },
        )
        if created:
            log.info("supplier accepted PO %s (%s)", order.po_number, order.supplier_order_id)
            background.spawn(fulfil(order.po_number))
        response.status_code = 201 if created else 200
        return SupplierOrder.model_validate(stored["order"])

    @app.get("/orders/{po_number}", response_model=SupplierOrder)
    async def get_order(po_number: str) -> SupplierOrder:
        loaded = load(po_number)
        if loaded is None:
            raise Refusal(f"no order with PO number {po_number!r}", status=404)
        return loaded[0]

    @app.get("/orders", response_model=OrderList)
    async def list_orders() -> OrderList:
        return OrderList(
            orders=tuple(SupplierOrder.model_validate(doc["order"]) for doc in ledger.all("orders"))
        )

    @app.post("/admin/orders/{po_number}/advance", response_model=SupplierOrder)
    async def advance_now(po_number: str) -> SupplierOrder:
        """Test hook: confirm (or ship, if confirmed) now, sending the callback."""
        loaded = load(po_number)
        if loaded is None:
            raise Refusal(f"no order with PO number {po_number!r}", status=404)
        nxt = (
            OrderStatus.CONFIRMED
            if loaded[0].status is OrderStatus.RECEIVED
            else OrderStatus.SHIPPED
        )
        await advance(po_number, nxt)
        after = load(po_number)
        assert after is not None
        return after[0]

    return app
