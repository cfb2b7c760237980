"""Start workflows from proposed actions, under business-key ids, never twice for one problem.

``WorkflowIDConflictPolicy.USE_EXISTING`` makes a second start of a running workflow return the
running one, so the same problem reported twice (or a decision replayed) opens one workflow.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from agents.errors import PolicyError
from policies.models import (
    CreateWorkOrder,
    OrderParts,
    ProposedAction,
    RerouteWork,
    ScheduleMaintenance,
)
from workflows.maintenance.workflow import MaintenanceWorkflow
from workflows.models import (
    TASK_QUEUE,
    ApprovalPolicy,
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
from workflows.reroute.workflow import RerouteWorkflow
from workflows.work_order.workflow import WorkOrderWorkflow


def problem_number(dedup_key: str) -> str:
    """A short stable number for a problem: the ``<n>`` of ``po:<site>:<sku>:<n>``."""
    return hashlib.sha256(dedup_key.encode()).hexdigest()[:10]


def _details(explanation: str, decision_id: str, evidence: dict[str, Any]) -> str:
    lines = [explanation or "(no explanation)", "", f"decision: `{decision_id or '-'}`"]
    if evidence:
        lines += ["", "```json", json.dumps(evidence, indent=2, default=str)[:4000], "```"]
    return "\n".join(lines)


async def start_part_order(
    client: Client, inp: PartOrderInput, *, n: str | int, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[PartOrderWorkflow, Any]:
    order = inp.order
    return await client.start_workflow(
        PartOrderWorkflow.run,
        inp,
        id=part_order_id(inp.site, order.lines[0].sku, n),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=(
            f"Order {', '.join(f'{line.quantity} x {line.sku}' for line in order.lines)} from {order.supplier} "
            f"({order.total:g} {order.currency})"
        ),
        static_details=_details(inp.explanation, inp.decision_id, inp.evidence),
    )


async def start_maintenance(
    client: Client, inp: MaintenanceInput, *, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[MaintenanceWorkflow, Any]:
    action = inp.action
    return await client.start_workflow(
        MaintenanceWorkflow.run,
        inp,
        id=maintenance_id(inp.site, action.asset_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"{action.priority.value} maintenance on {action.asset_id}: {action.task} ({action.duration_h:g} h)",
        static_details=_details(inp.explanation, inp.decision_id, inp.evidence),
    )


async def start_reroute(
    client: Client, inp: RerouteInput, *, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[RerouteWorkflow, Any]:
    return await client.start_workflow(
        RerouteWorkflow.run,
        inp,
        id=reroute_id(inp.site, inp.action.from_asset),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Reroute work off {inp.action.from_asset}",
        static_details=_details(inp.action.reason, inp.decision_id, {}),
    )


async def start_work_order(
    client: Client, inp: WorkOrderInput, *, dedup_key: str, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[WorkOrderWorkflow, Any]:
    action = inp.action
    return await client.start_workflow(
        WorkOrderWorkflow.run,
        inp,
        id=work_order_id(inp.site, dedup_key),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"{action.priority.value} work order on {action.asset_id}: {action.title}",
        static_details=_details(inp.explanation, inp.decision_id, inp.evidence),
    )


async def start_for_proposal(
    client: Client,
    proposed: ProposedAction,
    *,
    site: str,
    decision_id: str,
    approval: ApprovalPolicy,
    requested_by: str = "autoops",
    task_queue: str = TASK_QUEUE,
) -> WorkflowHandle[Any, Any]:
    """Start the workflow that carries out ``proposed`` (order parts, maintenance, reroute)."""
    action = proposed.action
    if isinstance(action, OrderParts):
        return await start_part_order(
            client,
            PartOrderInput(
                site=site, order=action, autonomy=proposed.autonomy, approval=approval,
                requirement=proposed.approval, requested_by=requested_by,
                decision_id=decision_id, explanation=proposed.explanation,
                asset_id=proposed.asset_id, evidence=proposed.evidence,
            ),
            n=problem_number(proposed.dedup_key),
            task_queue=task_queue,
        )
    if isinstance(action, ScheduleMaintenance):
        return await start_maintenance(
            client,
            MaintenanceInput(
                site=site, action=action, autonomy=proposed.autonomy, approval=approval,
                requirement=proposed.approval, estimated_cost=proposed.estimated_cost,
                currency=proposed.currency, requested_by=requested_by, decision_id=decision_id,
                explanation=proposed.explanation, evidence=proposed.evidence,
                supplier=str(proposed.evidence.get("kit_supplier", "")),
            ),
            task_queue=task_queue,
        )
    if isinstance(action, CreateWorkOrder):
        return await start_work_order(
            client,
            WorkOrderInput(
                site=site, action=action, autonomy=proposed.autonomy, approval=approval,
                requirement=proposed.approval, estimated_cost=proposed.estimated_cost,
                currency=proposed.currency, requested_by=requested_by, decision_id=decision_id,
                explanation=proposed.explanation, evidence=proposed.evidence,
            ),
            dedup_key=proposed.dedup_key,
            task_queue=task_queue,
        )
    if isinstance(action, RerouteWork):
        return await start_reroute(
            client, RerouteInput(site=site, action=action, decision_id=decision_id), task_queue=task_queue
        )
    raise PolicyError(
        f"decision {decision_id}: action kind {action.kind!r} has no workflow; "
        "only order_parts, schedule_maintenance, create_work_order and reroute_work start workflows"
    )
