"""JSON shapes spoken with the supplier, CMMS and MES, and the signed callbacks they send back.

The supplier shapes follow cXML semantics carried as JSON: ``OrderRequest`` (we send),
``ConfirmationRequest`` and ``ShipNoticeRequest`` (the supplier calls back, here as
``CallbackEvent`` of type ``order.confirmed`` / ``order.shipped``). Work orders are shaped after
MaintainX / Maximo (asset, priority, planned window, our ``external_ref`` for de-duplication).
MES machines carry an ISA-95 style list of capabilities; a queued job lists the capabilities it needs.

Request models are deliberately loose on values (e.g. quantity is any int): the partner is the
authority on what it accepts, and its refusal (a 4xx with a reason) is what a person must see.
Response models are strict (``extra="forbid"``) so a partner that changes its contract is noticed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policies.models import Priority


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- supplier -------------------------------------------------------------------------------


class OrderLine(Wire):
    """One ordered item (cXML ``ItemOut``). Same fields as ``policies.models.PartLine``."""

    sku: str
    quantity: int
    unit_price: float = 0.0
    description: str = ""


class ShipTo(Wire):
    site: str
    name: str = ""
    address: str = ""


class OrderRequest(Wire):
    """cXML ``OrderRequest``: ``po_number`` is also the idempotency key."""

    po_number: str
    lines: tuple[OrderLine, ...]
    currency: str = "EUR"
    ship_to: ShipTo
    callback_url: str | None = None  # where ConfirmationRequest / ShipNoticeRequest go


class OrderStatus(StrEnum):
    RECEIVED = "received"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"


class SupplierOrder(Wire):
    """The supplier's record of one purchase order."""

    po_number: str
    supplier_order_id: str
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    currency: str
    total: float
    ship_to: ShipTo
    created_at: datetime
    confirmed_at: datetime | None = None
    shipped_at: datetime | None = None
    expected_delivery: datetime | None = None
    carrier: str | None = None
    tracking_number: str | None = None


class OrderPlacement(Wire):
    """Result of ``place_order``: ``created`` is False when the PO number was already known."""

    order: SupplierOrder
    created: bool


class OrderList(Wire):
    orders: tuple[SupplierOrder, ...]


# --- CMMS -----------------------------------------------------------------------------------


class WorkOrderRequest(Wire):
    asset_id: str
    priority: Priority
    title: str
    description: str = ""
    window_start: datetime
    window_end: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)
    external_ref: str  # our key (the maintenance workflow id): one work order per ref
    callback_url: str | None = None


class WorkOrderStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"


class WorkOrder(Wire):
    work_order_id: str
    external_ref: str
    asset_id: str
    priority: Priority
    title: str
    description: str
    window_start: datetime
    window_end: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)
    status: WorkOrderStatus
    created_at: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None
    completion_notes: str = ""


class WorkOrderPlacement(Wire):
    work_order: WorkOrder
    created: bool


class WorkOrderList(Wire):
    work_orders: tuple[WorkOrder, ...]


class WorkOrderCompletion(Wire):
    """Body of the admin/test ``POST /work-orders/{id}/complete``."""

    completed_by: str = "technician"
    notes: str = ""
    fault_confirmed: bool | None = None  # Learn: was the predicted fault found?


# --- MES ------------------------------------------------------------------------------------


class Capability(Wire):
    """ISA-95 style equipment capability, e.g. ``milling.3axis`` with ``max_part_mm``."""

    id: str
    description: str = ""
    properties: dict[str, float | str] = Field(default_factory=dict)


class Machine(Wire):
    asset_id: str
    name: str
    kind: str  # mill / lathe / furnace ...
    line: str
    capabilities: tuple[Capability, ...] = ()
    constrained: bool = False
    constraint_reason: str = ""

    def capability_ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.capabilities)

    def can_run(self, job: QueuedJob) -> bool:
        return set(job.required_capabilities) <= self.capability_ids()


class WindowKind(StrEnum):
    PRODUCTION = "production"
    BREAK = "break"  # planned break: the line stands still
    MAINTENANCE = "maintenance"  # planned maintenance window


class ScheduleWindow(Wire):
    kind: WindowKind
    start: datetime
    end: datetime
    label: str = ""
    asset_id: str | None = None  # None: the whole line / plant

    @property
    def duration_h(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


class Schedule(Wire):
    """Planned windows touching ``[start, end)``, sorted by start."""

    asset_id: str | None
    line: str | None
    start: datetime
    end: datetime
    windows: tuple[ScheduleWindow, ...]


class QueuedJob(Wire):
    job_id: str
    asset_id: str
    product: str
    operation: str
    required_capabilities: tuple[str, ...]
    duration_h: float
    sequence: int  # position in the machine's queue, 1 = next
    due: datetime | None = None


class JobMove(Wire):
    """Result of ``move_job``: ``moved`` is False when the key (or target) had been applied."""

    job: QueuedJob
    from_asset: str
    moved: bool


class MachineList(Wire):
    machines: tuple[Machine, ...]


class JobList(Wire):
    jobs: tuple[QueuedJob, ...]


class MoveRequest(Wire):
    to_asset: str
    idempotency_key: str


class ConstraintRequest(Wire):
    reason: str = ""


# --- callbacks ------------------------------------------------------------------------------


class EventType(StrEnum):
    ORDER_CONFIRMED = "order.confirmed"  # cXML ConfirmationRequest
    ORDER_SHIPPED = "order.shipped"  # cXML ShipNoticeRequest
    WORK_ORDER_COMPLETED = "work_order.completed"


class CallbackEvent(Wire):
    """A signed callback from a partner. ``event_id`` is stable across re-deliveries."""

    event_id: str
    type: EventType
    source: str  # "supplier" / "cmms"
    occurred_at: datetime
    po_number: str | None = None  # supplier events
    external_ref: str | None = None  # CMMS events: our maintenance workflow id
    payload: dict[str, Any] = Field(default_factory=dict)
