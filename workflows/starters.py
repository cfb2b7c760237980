"""Start workflows from proposed actions, under business-key ids, never twice for one problem.

The loop goes through ``start_for_proposal`` (the registry in ``workflows/kinds.py`` knows every
kind); the ``start_<kind>`` helpers start one built-in workflow on an input built by hand (tests,
benchmarks). ``WorkflowIDConflictPolicy.USE_EXISTING`` makes a second start of a running workflow
return the running one, so the same problem reported twice (or a decision replayed) opens one
workflow.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle

from policies.models import ProposedAction
from workflows.kinds import KINDS, MAINTENANCE, PART_ORDER, REROUTE, WORK_ORDER, problem_number
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
from workflows.registry import StartRequest, workflow_details
from workflows.reroute.workflow import RerouteWorkflow
from workflows.work_order.workflow import WorkOrderWorkflow

__all__ = [
    "problem_number",
    "start_for_proposal",
    "start_maintenance",
    "start_part_order",
    "start_reroute",
    "start_work_order",
]


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
    """Start the workflow that carries out ``proposed``, whatever its registered kind."""
    request = StartRequest(site=site, decision_id=decision_id, approval=approval, requested_by=requested_by)
    return await KINDS.start(client, proposed, request, task_queue=task_queue)


async def start_part_order(
    client: Client, inp: PartOrderInput, *, n: str | int, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[PartOrderWorkflow, Any]:
    return await PART_ORDER.launch(
        client, inp,
        workflow_id=part_order_id(inp.site, inp.order.lines[0].sku, n),
        details=workflow_details(inp.explanation, inp.decision_id, inp.evidence),
        task_queue=task_queue,
    )


async def start_maintenance(
    client: Client, inp: MaintenanceInput, *, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[MaintenanceWorkflow, Any]:
    return await MAINTENANCE.launch(
        client, inp,
        workflow_id=maintenance_id(inp.site, inp.action.asset_id),
        details=workflow_details(inp.explanation, inp.decision_id, inp.evidence),
        task_queue=task_queue,
    )


async def start_reroute(
    client: Client, inp: RerouteInput, *, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[RerouteWorkflow, Any]:
    return await REROUTE.launch(
        client, inp,
        workflow_id=reroute_id(inp.site, inp.action.from_asset),
        details=workflow_details(inp.action.reason, inp.decision_id, {}),
        task_queue=task_queue,
    )


async def start_work_order(
    client: Client, inp: WorkOrderInput, *, dedup_key: str, task_queue: str = TASK_QUEUE
) -> WorkflowHandle[WorkOrderWorkflow, Any]:
    return await WORK_ORDER.launch(
        client, inp,
        workflow_id=work_order_id(inp.site, dedup_key),
        details=workflow_details(inp.explanation, inp.decision_id, inp.evidence),
        task_queue=task_queue,
    )
