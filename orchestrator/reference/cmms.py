"""Reference CMMS: MaintainX / Maximo-like work orders, one per ``external_ref``.

``POST /work-orders`` answers 201 for a new work order and 200 with the existing one when our
external reference is already known. Closing a work order (``POST /work-orders/{id}/complete``,
a technician's action in a real CMMS, or the ``auto_complete_delay_s`` knob) sends a signed
``work_order.completed`` callback carrying the external reference back to the orchestrator.

A restarted CMMS still owes what it promised before: open work orders are auto-completed when
their delay runs out (counted from their creation), and a completion callback that was never
delivered is sent again until the orchestrator takes it. On a simulated plant clock (the demo)
the auto-completion closes a work order at the end of its planned window, in plant time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Header, Response
from pydantic import SecretStr

from orchestrator.reference.common import (
    Background,
    CallbackSender,
    Clock,
    Refusal,
    make_app,
    on_plant_clock,
    utc_now,
)
from orchestrator.reference.knobs import CmmsKnobs, KnobPanel
from orchestrator.reference.ledger import Ledger
from workflows.integrations.models import (
    CallbackEvent,
    EventType,
    WorkOrder,
    WorkOrderCompletion,
    WorkOrderList,
    WorkOrderRequest,
    WorkOrderStatus,
)

log = logging.getLogger(__name__)


def create_cmms_app(
    state_dir: Path,
    *,
    secret: SecretStr | str,
    knobs: CmmsKnobs | None = None,
    assets: Collection[str] | None = None,
    clock: Clock = utc_now,
    api_key: SecretStr | str | None = None,
) -> FastAPI:
    """The CMMS app; ledger ``state_dir / "cmms.sqlite"``. ``assets``: known ids (None: any)."""
    ledger = Ledger(Path(state_dir) / "cmms.sqlite")
    panel: KnobPanel[CmmsKnobs] = KnobPanel(knobs or CmmsKnobs())
    background = Background()
    sender = CallbackSender(
        source="cmms",
        secret=secret if isinstance(secret, SecretStr) else SecretStr(secret),
        ledger=ledger,
        clock=clock,
    )
    known_assets = None if assets is None else frozenset(assets)

    def resume() -> None:
        for doc in ledger.all("work_orders"):
            work_order = WorkOrder.model_validate(doc["work_order"])
            if work_order.status is WorkOrderStatus.OPEN:
                delay = panel.knobs.auto_complete_delay_s
                if delay is not None:
                    background.spawn(auto_complete(work_order.work_order_id, delay, work_order.created_at))
            elif work_order.status is WorkOrderStatus.COMPLETED and doc.get("callback_url"):
                event = completed_event(work_order, doc)
                if not sender.delivered(doc["callback_url"], event):
                    background.spawn(deliver(doc["callback_url"], event))

    app = make_app(
        "autoops reference CMMS", panel, ledger, background, on_startup=resume, api_key=api_key
    )

    def load(work_order_id: str) -> WorkOrder:
        doc = ledger.get("work_orders", work_order_id)
        if doc is None:
            raise Refusal(f"no work order {work_order_id!r}", status=404)
        return WorkOrder.model_validate(doc["work_order"])

    async def complete(work_order_id: str, completion: WorkOrderCompletion) -> WorkOrder:
        work_order = load(work_order_id)
        if work_order.status is WorkOrderStatus.COMPLETED:
            return work_order  # closing twice changes nothing and sends nothing
        doc = ledger.get("work_orders", work_order_id)
        assert doc is not None
        now = clock()
        work_order = work_order.model_copy(
            update={
                "status": WorkOrderStatus.COMPLETED,
                "completed_at": now,
                "completed_by": completion.completed_by,
                "completion_notes": completion.notes,
            }
        )
        doc = {
            **doc,
            "work_order": work_order.model_dump(mode="json"),
            "fault_confirmed": completion.fault_confirmed,
        }
        ledger.put("work_orders", work_order_id, doc)
        log.info("CMMS closed %s (%s)", work_order_id, work_order.external_ref)
        if doc.get("callback_url"):
            background.spawn(
                deliver(doc["callback_url"], completed_event(work_order, doc))
            )
        return work_order

    async def deliver(url: str, event: CallbackEvent) -> None:
        await sender.deliver(url, event)

    def completed_event(work_order: WorkOrder, doc: dict[str, Any]) -> CallbackEvent:
        assert work_order.completed_at is not None
        return CallbackEvent(
            event_id=f"cmms:{work_order.work_order_id}:completed",
            type=EventType.WORK_ORDER_COMPLETED,
            source="cmms",
            occurred_at=work_order.completed_at,
            external_ref=work_order.external_ref,
            payload={
                "work_order_id": work_order.work_order_id,
                "asset_id": work_order.asset_id,
                "completed_by": work_order.completed_by,
                "notes": work_order.completion_notes,
                "fault_confirmed": doc.get("fault_confirmed"),
            },
        )

    async def auto_complete(work_order_id: str, delay: float, since: datetime | None = None) -> None:
        if on_plant_clock(clock):
            # Plant time: the technician closes the job at the end of its planned window (at
            # least ``delay`` plant seconds after it was opened); a restart waits for the same.
            work_order = load(work_order_id)
            await clock.sleep_until(  # type: ignore[attr-defined]
                max(work_order.created_at + timedelta(seconds=delay), work_order.window_end)
            )
        else:
            if since is not None:  # resumed after a restart: only what is left of the delay
                delay = max(0.0, delay - (clock() - since).total_seconds())
            await asyncio.sleep(delay)
        await complete(
            work_order_id,
            WorkOrderCompletion(
                completed_by="auto",
                notes="closed by the reference CMMS auto-complete knob",
                fault_confirmed=panel.knobs.auto_complete_fault_confirmed,
            ),
        )

    def check(request: WorkOrderRequest) -> None:
        problems: list[str] = []
        if not request.external_ref.strip():
            problems.append("external_ref is empty")
        if not request.title.strip():
            problems.append("title is empty")
        if request.window_end <= request.window_start:
            problems.append(
                f"window_end {request.window_end.isoformat()} is not after "
                f"window_start {request.window_start.isoformat()}"
            )
        if known_assets is not None and request.asset_id not in known_assets:
            problems.append(f"unknown asset {request.asset_id!r}")
        if problems:
            raise Refusal("; ".join(problems))

    @app.post("/work-orders", response_model=WorkOrder)
    async def create(
        request: WorkOrderRequest,
        response: Response,
        idempotency_key: str | None = Header(default=None),
    ) -> WorkOrder:
        if idempotency_key is not None and idempotency_key != request.external_ref:
            raise Refusal(
                f"Idempotency-Key {idempotency_key!r} differs from external_ref "
                f"{request.external_ref!r}; they must be equal"
            )
        known = ledger.get("refs", request.external_ref)
        if known is not None:
            response.status_code = 200
            return load(known["work_order_id"])
        check(request)
        work_order_id = f"WO-{ledger.next_number('work_orders'):06d}"
        work_order = WorkOrder(
            work_order_id=work_order_id,
            external_ref=request.external_ref,
            asset_id=request.asset_id,
            priority=request.priority,
            title=request.title,
            description=request.description,
            window_start=request.window_start,
            window_end=request.window_end,
            evidence=request.evidence,
            status=WorkOrderStatus.OPEN,
            created_at=clock(),
        )
        doc = {"work_order": work_order.model_dump(mode="json"), "callback_url": request.callback_url}
        # The reference and its work order in one transaction: a crash between two writes
        # would leave a reference that points at nothing.
        ref, created = ledger.insert_if_absent(
            "refs",
            request.external_ref,
            {"work_order_id": work_order_id},
            also=[("work_orders", work_order_id, doc)],
        )
        if not created:
            response.status_code = 200
            return load(ref["work_order_id"])
        log.info(
            "CMMS opened %s for %s on %s", work_order_id, request.external_ref, request.asset_id
        )
        delay = panel.knobs.auto_complete_delay_s
        if delay is not None:
            background.spawn(auto_complete(work_order_id, delay))
        response.status_code = 201
        return work_order

    @app.get("/work-orders", response_model=WorkOrderList)
    async def list_work_orders(external_ref: str | None = None) -> WorkOrderList:
        orders = [WorkOrder.model_validate(d["work_order"]) for d in ledger.all("work_orders")]
        return WorkOrderList(
            work_orders=tuple(
                o for o in orders if external_ref is None or o.external_ref == external_ref
            )
        )

    @app.get("/work-orders/{work_order_id}", response_model=WorkOrder)
    async def get_work_order(work_order_id: str) -> WorkOrder:
        return load(work_order_id)

    @app.post("/work-orders/{work_order_id}/complete", response_model=WorkOrder)
    async def complete_work_order(
        work_order_id: str, completion: WorkOrderCompletion | None = None
    ) -> WorkOrder:
        return await complete(work_order_id, completion or WorkOrderCompletion())

    return app
