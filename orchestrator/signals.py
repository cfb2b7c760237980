"""Turn verified partner callbacks into workflow signals (the intake's ``on_event``).

The intake has already checked the HMAC signature and dropped replays; here each event finds its
workflow by business key (the PO number maps back to ``po:…``, the CMMS echoes our maintenance
workflow id as ``external_ref``) and is delivered as a signal. Signal handlers are idempotent, so
a re-delivered event changes nothing.
"""

from __future__ import annotations

import logging

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agents.errors import InputError
from agents.models import HealthReport, Status
from orchestrator.intake import EventHandler
from workflows.integrations.models import CallbackEvent, EventType
from workflows.models import (
    HealthConfirmation,
    ShipNotice,
    SupplierConfirmation,
    WorkOrderCompletion,
    maintenance_id,
    part_order_id_for_po,
    workflow_id_for_ref,
)

log = logging.getLogger(__name__)


def signal_handler(client: Client) -> EventHandler:
    """An ``on_event`` for ``create_intake_router`` that signals the workflow the event belongs to."""

    async def on_event(event: CallbackEvent) -> None:
        payload = event.payload
        if event.type in (EventType.ORDER_CONFIRMED, EventType.ORDER_SHIPPED):
            if not event.po_number:
                raise InputError(f"callback {event.event_id}: {event.type} without po_number", column="po_number")
            handle = client.get_workflow_handle(part_order_id_for_po(event.po_number))
            if event.type == EventType.ORDER_CONFIRMED:
                name, arg = "supplier_confirmed", SupplierConfirmation(
                    po_number=event.po_number,
                    accepted=bool(payload.get("accepted", True)),
                    supplier_order_id=str(payload.get("supplier_order_id", "")),
                    comment=str(payload.get("comment", "")),
                )
            else:
                name, arg = "supplier_shipped", ShipNotice(
                    po_number=event.po_number,
                    shipment_id=str(payload.get("supplier_order_id", "")),
                    carrier=str(payload.get("carrier") or ""),
                    tracking=str(payload.get("tracking_number") or ""),
                )
        elif event.type == EventType.WORK_ORDER_COMPLETED:
            if not event.external_ref:
                raise InputError(f"callback {event.event_id}: work order event without external_ref",
                                 column="external_ref")
            handle = client.get_workflow_handle(workflow_id_for_ref(event.external_ref))
            name, arg = "work_order_completed", WorkOrderCompletion(
                external_ref=event.external_ref,
                work_order_id=str(payload.get("work_order_id", "")),
                notes=str(payload.get("completion_notes") or payload.get("notes") or ""),
                fault_confirmed=(
                    payload["fault_confirmed"]
                    if isinstance(payload.get("fault_confirmed"), bool) else None
                ),
            )
        else:  # pragma: no cover - EventType is closed; a new type must be wired here
            raise InputError(f"callback {event.event_id}: no workflow handles {event.type}")
        try:
            await handle.signal(name, arg)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                # Finished or never ours: nothing to wake. Accept so the partner stops retrying.
                log.warning("callback %s for %s: no running workflow; ignored", event.event_id, handle.id)
                return
            raise

    return on_event


def confirmation_of(report: HealthReport) -> HealthConfirmation:
    """Green without sensor faults counts as healthy; amber / red / unknown do not."""
    return HealthConfirmation(
        asset_id=report.asset_id,
        healthy=report.status == Status.GREEN and not report.sensor_faults,
        detail=report.summary or f"status {report.status.value}, health {report.health_score:.2f}",
    )


async def forward_health(client: Client, site: str, report: HealthReport) -> bool:
    """Give an asset's latest report to its maintenance workflow (the "healthy again?" check).

    Green counts as healthy; amber / red / unknown do not. Returns False when no maintenance
    workflow is running for the asset (the report then only matters to the policies).
    """
    handle = client.get_workflow_handle(maintenance_id(site, report.asset_id))
    try:
        await handle.signal("asset_health", confirmation_of(report))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True
