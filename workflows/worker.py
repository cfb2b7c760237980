"""The one function that builds every autoops worker: all workflows, all activities, one task queue.

The workflows are the registered action kinds' (``workflows/kinds.py``), so a kind registered
before the worker is built runs on it with the activities it brings.

Several workers may run the same build on one task queue (several orchestrator processes); any
of them can pick up a workflow another one started, which is how a killed worker is survived.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from workflows.clock import PLANT_NOW_ACTIVITY
from workflows.common import Notifier, NotifyActivities, StockLedger, log_notifier
from workflows.integrations.cmms import CmmsClient
from workflows.integrations.mes import MesClient
from workflows.integrations.supplier import SupplierClient
from workflows.kinds import KINDS
from workflows.maintenance.activities import HealthLookup, MaintenanceActivities
from workflows.models import TASK_QUEUE
from workflows.part_order.activities import PartOrderActivities
from workflows.reroute.activities import RerouteActivities


@dataclass
class WorkerDeps:
    """What activities need from the outside world; every client wraps an injected httpx client."""

    supplier: SupplierClient
    cmms: CmmsClient
    mes: MesClient
    stock: StockLedger
    notifier: Notifier = log_notifier
    health: HealthLookup | None = None
    supplier_callback_url: str | None = None
    cmms_callback_url: str | None = None
    # The plant's clock (the deployment's one clock); workflows on a simulated clock read it
    # through the ``plant_now`` local activity.
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def from_http(
        cls,
        *,
        supplier: httpx.AsyncClient,
        cmms: httpx.AsyncClient,
        mes: httpx.AsyncClient,
        stock: StockLedger,
        timeout_s: float | None = None,
        **kwargs: object,
    ) -> WorkerDeps:
        return cls(
            supplier=SupplierClient(supplier, timeout=timeout_s),
            cmms=CmmsClient(cmms, timeout=timeout_s),
            mes=MesClient(mes, timeout=timeout_s),
            stock=stock,
            **kwargs,  # type: ignore[arg-type]
        )


def activities_for(deps: WorkerDeps) -> list[Callable[..., Awaitable[object]]]:
    """The shared activities of the built-in kinds, then those registered kinds bring (once each)."""
    shared = _shared_activities(deps)
    names = {_activity_name(fn) for fn in shared}
    extra = []
    for fn in KINDS.activities(deps):
        if _activity_name(fn) not in names:
            names.add(_activity_name(fn))
            extra.append(fn)
    return [*shared, *extra]


def _activity_name(fn: Callable[..., object]) -> str:
    defn = getattr(fn, "__temporal_activity_definition", None)
    return str(getattr(defn, "name", None) or getattr(fn, "__name__", repr(fn)))


def _shared_activities(deps: WorkerDeps) -> list[Callable[..., Awaitable[object]]]:
    part = PartOrderActivities(deps.supplier, deps.stock, callback_url=deps.supplier_callback_url)
    maint = MaintenanceActivities(
        deps.cmms, deps.mes, deps.stock, health=deps.health, callback_url=deps.cmms_callback_url
    )
    reroute = RerouteActivities(deps.mes)
    notify = NotifyActivities(deps.notifier)
    clock = deps.clock

    @activity.defn(name=PLANT_NOW_ACTIVITY)
    async def plant_now() -> datetime:
        return clock()

    return [
        plant_now,
        notify.notify,
        part.place_order,
        part.get_order_status,
        part.receive_into_stock,
        maint.get_planned_windows,
        maint.reserve_parts,
        maint.issue_parts,
        maint.create_work_order,
        maint.get_work_order_status,
        maint.check_asset_health,
        reroute.get_situation,
        reroute.move_job,
        reroute.set_constraint,
        reroute.release_constraint,
    ]


def build_worker(
    client: Client,
    deps: WorkerDeps,
    *,
    task_queue: str = TASK_QUEUE,
    activity_executor: Executor | None = None,
    **options: object,
) -> Worker:
    """One worker that runs every autoops workflow and activity on ``task_queue``."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(KINDS.workflows()),
        activities=activities_for(deps),
        activity_executor=activity_executor,
        **options,  # type: ignore[arg-type]
    )
