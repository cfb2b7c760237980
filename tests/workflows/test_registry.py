"""The action-kind registry: one registration per kind and per id prefix, inputs built once, clear refusals."""

from __future__ import annotations

from typing import Literal

import pytest

from agents.errors import PolicyError
from policies.models import (
    ActionModel,
    Autonomy,
    Decision,
    DecisionOutcome,
    OrderParts,
    PartLine,
    ProposedAction,
    ScheduleMaintenance,
    action_model,
)
from workflows.kinds import KINDS, MAINTENANCE, PART_ORDER, problem_number
from workflows.models import ApprovalPolicy, MaintenanceInput, PartOrderInput
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.registry import ActionKind, ActionKinds, StartRequest


@action_model
class InspectDoor(ActionModel):
    kind: Literal["inspect_door"] = "inspect_door"
    door: str


def _kind(prefix: str = "door", workflow: type = PartOrderWorkflow) -> ActionKind:
    return ActionKind(
        action=InspectDoor,
        workflow=workflow,
        run=workflow.run,
        build_input=lambda proposed, req: proposed.action,
        workflow_id=lambda inp, proposed: f"{prefix}:{inp.door}",
        prefix=prefix,
        label="door inspection",
    )


def _proposal(action: ActionModel, key: str = "site:a:problem") -> ProposedAction:
    return ProposedAction(action=action, autonomy=Autonomy.AUTO, dedup_key=key, explanation="because")


def test_built_in_kinds_are_registered_once_each_with_a_label_and_a_prefix() -> None:
    kinds = {k.kind: k for k in KINDS}
    assert {"order_parts", "schedule_maintenance", "create_work_order", "reroute_work", "flag_for_review"} <= set(kinds)
    assert "notify" not in KINDS  # recorded, no workflow
    assert KINDS.label_of("po:pc:BK-6205:1") == "part order"
    assert KINDS.label_of("maint:pc:mill-1") == "maintenance"
    assert KINDS.label_of("wo:pc:lathe-1:vibration") == "work order"
    assert KINDS.label_of("reroute:pc:mill-1") == "reroute"
    assert KINDS.label_of("review:pc:C-1:0123456789") == "review"
    assert KINDS.label_of("nothing:here", default="?") == "?"


def test_the_input_and_the_business_key_are_built_from_the_proposal() -> None:
    request = StartRequest(site="pc", decision_id="d-1", approval=ApprovalPolicy(), requested_by="policy:p")
    order = _proposal(OrderParts(supplier="s", lines=(PartLine(sku="BK-6205", quantity=2, unit_price=10.0),)))
    inp = PART_ORDER.input_for(order, request)
    assert isinstance(inp, PartOrderInput) and inp.decision_id == "d-1" and inp.requested_by == "policy:p"
    assert PART_ORDER.workflow_id(inp, order) == f"po:pc:BK-6205:{problem_number(order.dedup_key)}"
    job = _proposal(ScheduleMaintenance(asset_id="mill-1", task="bearing", duration_h=2), key="pc:mill-1:bearing")
    inp = MAINTENANCE.input_for(job, request)
    assert isinstance(inp, MaintenanceInput) and MAINTENANCE.workflow_id(inp, job) == "maint:pc:mill-1"


def test_a_declared_action_kind_survives_the_decision_log() -> None:
    decision = Decision(
        decision_id="d-1", time="2026-11-30T06:00:00Z", policy_id="p", policy_version="1.0.0",
        policy_source_hash="0", outcome=DecisionOutcome.PROPOSED, explanation="e",
        proposed=_proposal(InspectDoor(door="north")),
    )
    again = Decision.model_validate_json(decision.model_dump_json())
    assert again == decision and isinstance(again.proposed.action, InspectDoor)
    with pytest.raises(ValueError, match="unknown action kind 'paint_wall'"):
        ProposedAction.model_validate(
            {"action": {"kind": "paint_wall"}, "autonomy": "auto", "dedup_key": "k", "explanation": "e"}
        )


def test_a_kind_or_a_prefix_cannot_be_registered_twice() -> None:
    kinds = ActionKinds()
    first = kinds.register(_kind())
    assert kinds.register(_kind()) is first  # the same module imported again (the sandbox does)

    class Other:
        run = PartOrderWorkflow.run

    with pytest.raises(ValueError, match="registered twice"):
        kinds.register(_kind(workflow=Other))
    others = ActionKinds()
    others.register(PART_ORDER)
    with pytest.raises(ValueError, match="share the workflow id prefix 'po'"):
        others.register(_kind(prefix="po"))


async def test_an_id_outside_the_prefix_or_a_kind_without_workflow_is_refused() -> None:
    kinds = ActionKinds()
    kinds.register(_kind(prefix="door"))
    bad = ActionKind(
        action=InspectDoor, workflow=PartOrderWorkflow, run=PartOrderWorkflow.run,
        build_input=lambda proposed, req: proposed.action, workflow_id=lambda inp, proposed: "po:north",
        prefix="gate", label="gate",
    )
    with pytest.raises(PolicyError, match="does not start with its prefix 'gate:'"):
        await bad.start(None, _proposal(InspectDoor(door="north")), StartRequest(site="pc"))  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="action kind 'order_parts' has no workflow; these start workflows: inspect_door"):
        await kinds.start(None, _proposal(OrderParts(supplier="s", lines=(PartLine(sku="x", quantity=1),))),  # type: ignore[arg-type]
                          StartRequest(site="pc", decision_id="d-9"))
