"""The built-in action kinds, each declared once: part order, maintenance, work order, reroute.

``KINDS`` is the registry everyone consults (the loop, the worker, the web UI); a plant or a test
registers more kinds into it the same way (see ``workflows/registry.py``).
"""

from __future__ import annotations

import hashlib
from typing import TypeVar

from policies.models import (
    CreateWorkOrder,
    OrderParts,
    ProposedAction,
    RerouteWork,
    ScheduleMaintenance,
)
from workflows.maintenance.workflow import MaintenanceWorkflow
from workflows.models import (
    MaintenanceInput,
    PartOrderInput,
    RerouteInput,
    WorkOrderInput,
    maintenance_id,
    part_order_id,
    reroute_id,
    work_order_id,
)
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.registry import ActionKind, ActionKinds, StartRequest, workflow_details
from workflows.reroute.workflow import RerouteWorkflow
from workflows.work_order.workflow import WorkOrderWorkflow

__all__ = ["KINDS", "PART_ORDER", "MAINTENANCE", "WORK_ORDER", "REROUTE", "problem_number"]


def problem_number(dedup_key: str) -> str:
    """A short stable number for a problem: the ``<n>`` of ``po:<site>:<sku>:<n>``."""
    return hashlib.sha256(dedup_key.encode()).hexdigest()[:10]


T = TypeVar("T")


def _action(proposed: ProposedAction, model: type[T]) -> T:
    action = proposed.action
    assert isinstance(action, model), f"{type(action).__name__} is not a {model.__name__}"
    return action


def _part_order_input(proposed: ProposedAction, req: StartRequest) -> PartOrderInput:
    return PartOrderInput(
        site=req.site, order=_action(proposed, OrderParts), autonomy=proposed.autonomy,
        approval=req.approval, requirement=proposed.approval, requested_by=req.requested_by,
        decision_id=req.decision_id, explanation=proposed.explanation,
        asset_id=proposed.asset_id, evidence=proposed.evidence, clock=req.clock,
    )


def _maintenance_input(proposed: ProposedAction, req: StartRequest) -> MaintenanceInput:
    return MaintenanceInput(
        site=req.site, action=_action(proposed, ScheduleMaintenance), autonomy=proposed.autonomy,
        approval=req.approval, requirement=proposed.approval, estimated_cost=proposed.estimated_cost,
        currency=proposed.currency, requested_by=req.requested_by, decision_id=req.decision_id,
        explanation=proposed.explanation, evidence=proposed.evidence,
        supplier=str(proposed.evidence.get("kit_supplier", "")), clock=req.clock,
    )


def _work_order_input(proposed: ProposedAction, req: StartRequest) -> WorkOrderInput:
    return WorkOrderInput(
        site=req.site, action=_action(proposed, CreateWorkOrder), autonomy=proposed.autonomy,
        approval=req.approval, requirement=proposed.approval, estimated_cost=proposed.estimated_cost,
        currency=proposed.currency, requested_by=req.requested_by, decision_id=req.decision_id,
        explanation=proposed.explanation, evidence=proposed.evidence, clock=req.clock,
    )


def _reroute_input(proposed: ProposedAction, req: StartRequest) -> RerouteInput:
    return RerouteInput(
        site=req.site, action=_action(proposed, RerouteWork), decision_id=req.decision_id, clock=req.clock
    )


def _order_summary(inp: PartOrderInput) -> str:
    order = inp.order
    lines = ", ".join(f"{line.quantity} x {line.sku}" for line in order.lines)
    return f"Order {lines} from {order.supplier} ({order.total:g} {order.currency})"


PART_ORDER = ActionKind(
    action=OrderParts,
    workflow=PartOrderWorkflow,
    run=PartOrderWorkflow.run,
    build_input=_part_order_input,
    workflow_id=lambda inp, proposed: part_order_id(
        inp.site, inp.order.lines[0].sku, problem_number(proposed.dedup_key)
    ),
    prefix="po",
    label="part order",
    summary=_order_summary,
)

MAINTENANCE = ActionKind(
    action=ScheduleMaintenance,
    workflow=MaintenanceWorkflow,
    run=MaintenanceWorkflow.run,
    build_input=_maintenance_input,
    workflow_id=lambda inp, proposed: maintenance_id(inp.site, inp.action.asset_id),
    prefix="maint",
    label="maintenance",
    summary=lambda inp: (
        f"{inp.action.priority.value} maintenance on {inp.action.asset_id}: "
        f"{inp.action.task} ({inp.action.duration_h:g} h)"
    ),
)

WORK_ORDER = ActionKind(
    action=CreateWorkOrder,
    workflow=WorkOrderWorkflow,
    run=WorkOrderWorkflow.run,
    build_input=_work_order_input,
    workflow_id=lambda inp, proposed: work_order_id(inp.site, proposed.dedup_key),
    prefix="wo",
    label="work order",
    summary=lambda inp: f"{inp.action.priority.value} work order on {inp.action.asset_id}: {inp.action.title}",
)

REROUTE = ActionKind(
    action=RerouteWork,
    workflow=RerouteWorkflow,
    run=RerouteWorkflow.run,
    build_input=_reroute_input,
    workflow_id=lambda inp, proposed: reroute_id(inp.site, inp.action.from_asset),
    prefix="reroute",
    label="reroute",
    summary=lambda inp: f"Reroute work off {inp.action.from_asset}",
    details=lambda inp, proposed, req: workflow_details(inp.action.reason, req.decision_id, {}),
)

KINDS = ActionKinds()
KINDS.register(PART_ORDER)
KINDS.register(MAINTENANCE)
KINDS.register(WORK_ORDER)
KINDS.register(REROUTE)
