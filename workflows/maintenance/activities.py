"""Maintenance activities: MES schedule, stock reservation, CMMS work order, asset health."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from workflows.common import StockLedger, partner_boundary
from workflows.integrations.cmms import CmmsClient
from workflows.integrations.mes import MesClient
from workflows.integrations.models import WindowKind
from workflows.models import (
    CreatedWorkOrder,
    HealthConfirmation,
    PartsUsed,
    ReserveRequest,
    ScheduleQuery,
    StockCheck,
    Window,
    WorkOrderSpec,
)

#: Where "is the asset healthy again?" is answered (e.g. the asset agents' latest report).
HealthLookup = Callable[[str], Awaitable[HealthConfirmation | None]]

#: Windows in which a machine stands still by plan and may be worked on.
_PLANNED_STOPS = (WindowKind.BREAK, WindowKind.MAINTENANCE)


class MaintenanceActivities:
    def __init__(
        self,
        cmms: CmmsClient,
        mes: MesClient,
        stock: StockLedger,
        *,
        health: HealthLookup | None = None,
        callback_url: str | None = None,
    ) -> None:
        self._cmms = cmms
        self._mes = mes
        self._stock = stock
        self._health = health
        self._callback_url = callback_url

    @activity.defn(name="get_planned_windows")
    async def get_planned_windows(self, query: ScheduleQuery) -> tuple[Window, ...]:
        """Planned stops (breaks, maintenance windows) that apply to the asset, from the MES."""
        with partner_boundary():
            schedule = await self._mes.get_schedule(query.start, query.end, asset_id=query.asset_id)
        return tuple(
            Window(start=w.start, end=w.end, name=w.label or w.kind.value)
            for w in schedule.windows
            if w.kind in _PLANNED_STOPS and w.asset_id in (None, query.asset_id)
        )

    @activity.defn(name="reserve_parts")
    async def reserve_parts(self, request: ReserveRequest) -> StockCheck:
        return await self._stock.reserve(request.ref, request.lines)

    @activity.defn(name="issue_parts")
    async def issue_parts(self, used: PartsUsed) -> bool:
        return await self._stock.issue(used.ref, used.lines)

    @activity.defn(name="create_work_order")
    async def create_work_order(self, spec: WorkOrderSpec) -> CreatedWorkOrder:
        """Open the work order; our external reference makes a retried call return the same one."""
        action = spec.action
        with partner_boundary():
            placement = await self._cmms.create_work_order(
                action.asset_id,
                action.priority,
                action.task,
                spec.description,
                spec.window.start,
                spec.window.end,
                spec.evidence,
                spec.external_ref,
                self._callback_url,
            )
        order = placement.work_order
        return CreatedWorkOrder(work_order_id=order.work_order_id, created=placement.created, status=order.status.value)

    @activity.defn(name="get_work_order_status")
    async def get_work_order_status(self, work_order_id: str) -> str:
        with partner_boundary():
            order = await self._cmms.get_work_order(work_order_id)
        return order.status.value if order is not None else "missing"

    @activity.defn(name="check_asset_health")
    async def check_asset_health(self, asset_id: str) -> HealthConfirmation:
        """Ask the injected health source; without one (or without an answer) the workflow waits
        for a health report signal."""
        report = await self._health(asset_id) if self._health is not None else None
        return report or HealthConfirmation(asset_id=asset_id, healthy=False, detail="no health source answered")
