"""The plain rules behind the workflows: the approval gate, window choice, rerouting, stock, ids."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policies.models import ApprovalRequirement, PartLine
from workflows.approval import ApprovalGate
from workflows.common import StockLedger
from workflows.maintenance.planning import pick_window
from workflows.models import (
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalState,
    ApprovalTier,
    ApprovalVote,
    MachineLoad,
    PlannedJob,
    RerouteSituation,
    Window,
    part_order_id,
    part_order_id_for_po,
    po_number_for,
)
from workflows.reroute.planning import plan_moves

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday morning
POLICY = ApprovalPolicy(
    tiers=(
        ApprovalTier(name="lead", roles=("maintenance_lead",), deadline_s=60),
        ApprovalTier(name="manager", above=5000, roles=("plant_manager",), min_approvers=2, deadline_s=60),
    ),
    role_limits={"maintenance_lead": 5000, "plant_manager": 100_000},
)


def gate(amount: float, requirement: ApprovalRequirement | None = None) -> ApprovalGate:
    g = ApprovalGate()
    g.open(ApprovalRequest(subject="PO-1", requested_by="policy:x", amount=amount, policy=POLICY,
                           requirement=requirement), T0)
    return g


def test_gate_refuses_with_reasons_and_counts_distinct_approvers() -> None:
    g = gate(8000)  # manager tier: two plant managers
    assert g.roles == ("plant_manager",) and g.min_approvers == 2
    assert "may not approve" in (g.refusal(ApprovalVote(user="lea", role="maintenance_lead", approve=True)) or "")
    assert "separation of duties" in (g.refusal(ApprovalVote(user="policy:x", role="plant_manager", approve=True)) or "")
    g.record(ApprovalVote(user="max", role="plant_manager", approve=True), T0)
    assert g.state == ApprovalState.PENDING
    assert "already voted" in (g.refusal(ApprovalVote(user="max", role="plant_manager", approve=True)) or "")
    g.record(ApprovalVote(user="eva", role="plant_manager", approve=True), T0)
    assert g.state == ApprovalState.APPROVED
    assert "nothing to approve" in (g.refusal(ApprovalVote(user="zoe", role="plant_manager", approve=True)) or "")


def test_gate_refuses_a_comment_too_long_for_the_workflow_history() -> None:
    g = gate(100)
    vote = ApprovalVote(user="lea", role="maintenance_lead", approve=False, comment="x" * 3_000_000)
    assert "3,000,000 characters; at most 4,000" in (g.refusal(vote) or "")
    fits = vote.model_copy(update={"comment": "x" * 4000})
    assert g.refusal(fits) is None


def test_gate_role_limit_and_requirement_roles() -> None:
    g = gate(6000, ApprovalRequirement(roles=("maintenance_lead",)))
    assert g.roles == ("maintenance_lead", "plant_manager")  # the policy's roles first, the tier's added
    refusal = g.refusal(ApprovalVote(user="lea", role="maintenance_lead", approve=True))
    assert refusal == ("role 'maintenance_lead' may approve up to 5000 EUR; this request is 6000 EUR: "
                       "ask a higher role")
    assert "needs a comment" in (g.refusal(ApprovalVote(user="max", role="plant_manager", approve=False)) or "")


def test_deadline_widens_approvers_and_never_approves() -> None:
    g = gate(100)
    escalation = g.escalate(T0)
    assert escalation is not None and escalation.to_tier == "manager"
    assert g.state == ApprovalState.ESCALATED and g.roles == ("maintenance_lead", "plant_manager")
    assert g.min_approvers == 1  # widening who may sign does not raise the count
    assert g.escalate(T0) is None  # no tier above: stays escalated, still not approved
    assert g.state == ApprovalState.ESCALATED and not g.votes


def test_pick_window_fits_duration_and_deadline() -> None:
    windows = [
        Window(start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=2, minutes=30), name="break"),
        Window(start=T0 + timedelta(hours=14), end=T0 + timedelta(hours=18), name="night"),
        Window(start=T0 + timedelta(days=5), end=T0 + timedelta(days=5, hours=8), name="saturday"),
    ]
    assert pick_window(windows, duration_h=0.5, now=T0).name == "break"  # type: ignore[union-attr]
    night = pick_window(windows, duration_h=3, now=T0)
    assert night is not None and night.name == "night" and night.end - night.start == timedelta(hours=3)
    assert pick_window(windows, duration_h=6, now=T0).name == "saturday"  # type: ignore[union-attr]
    assert pick_window(windows, duration_h=6, now=T0, latest_start=T0 + timedelta(days=2)) is None
    # Already inside the night window with 1 h left: a 3 h job waits for the next fitting one.
    late = pick_window(windows, duration_h=3, now=T0 + timedelta(hours=17))
    assert late is not None and late.name == "saturday"


def test_plan_moves_capable_machines_least_delay_first() -> None:
    situation = RerouteSituation(
        jobs=(
            PlannedJob(job_id="A", asset_id="m1", required_capabilities=("mill3",), duration_h=3, sequence=1),
            PlannedJob(job_id="B", asset_id="m1", required_capabilities=("mill5",), duration_h=2, sequence=2),
            PlannedJob(job_id="C", asset_id="m1", required_capabilities=("mill3",), duration_h=1, sequence=3),
        ),
        machines=(
            MachineLoad(asset_id="m1", capabilities=("mill3", "mill5"), queued_h=0),
            MachineLoad(asset_id="m2", capabilities=("mill3",), queued_h=1),
            MachineLoad(asset_id="m3", capabilities=("mill3", "drill"), queued_h=2),
            MachineLoad(asset_id="m4", capabilities=("mill3", "mill5"), queued_h=0, constrained=True),
            MachineLoad(asset_id="lathe", capabilities=("turn",), queued_h=0),
        ),
    )
    moves, unplaced = plan_moves(situation, from_asset="m1")
    assert [(m.job_id, m.to_machine, m.delay_h) for m in moves] == [("A", "m2", 1), ("C", "m3", 2)]
    assert unplaced == ("B",)  # only m1 and the constrained m4 can do 5-axis work
    moves, unplaced = plan_moves(situation, from_asset="m1", capability="drill")
    assert {m.to_machine for m in moves} == {"m3"} and unplaced == ("B",)


async def test_stock_ledger_is_idempotent_and_persistent(tmp_path: Path) -> None:
    path = tmp_path / "stock.json"
    ledger = StockLedger({"BRG": 3}, path=path)
    lines = (PartLine(sku="BRG", quantity=5), PartLine(sku="SEAL", quantity=1))
    first = await ledger.reserve("maint:s:m1", lines)
    again = await ledger.reserve("maint:s:m1", lines)
    assert first == again and [(p.sku, p.quantity) for p in first.missing] == [("BRG", 2), ("SEAL", 1)]
    assert await ledger.receive("PO-1", (PartLine(sku="BRG", quantity=2),)) is True
    assert await ledger.receive("PO-1", (PartLine(sku="BRG", quantity=2),)) is False
    assert StockLedger(path=path).on_hand == {"BRG": 2, "SEAL": 0}


async def test_parts_a_job_used_leave_the_stock_once(tmp_path: Path) -> None:
    path = tmp_path / "stock.json"
    ledger = StockLedger({"KIT": 1, "SEAL": 4}, path=path)
    job = (PartLine(sku="KIT", quantity=2), PartLine(sku="SEAL", quantity=2))
    check = await ledger.reserve("maint:s:m1~a", job)
    assert [(p.sku, p.quantity) for p in check.missing] == [("KIT", 1)]
    assert ledger.on_hand == {"KIT": 0, "SEAL": 2}  # reserved: not free any more
    await ledger.receive("PO-KIT", (PartLine(sku="KIT", quantity=1),))  # the kit bought for the job
    # The job used one seal less than it reserved: that one goes back to the free stock.
    used = (PartLine(sku="KIT", quantity=2), PartLine(sku="SEAL", quantity=1))
    assert await ledger.issue("maint:s:m1~a", used) is True
    assert await ledger.issue("maint:s:m1~a", used) is False  # a retried activity books nothing twice
    assert ledger.on_hand == {"KIT": 0, "SEAL": 3}
    assert "maint:s:m1~a" not in ledger.reservations
    assert StockLedger(path=path).issues == {"maint:s:m1~a": [{"sku": "KIT", "quantity": 2}, {"sku": "SEAL", "quantity": 1}]}


def test_po_number_is_a_pure_function_of_the_workflow_and_run_ids() -> None:
    wid = part_order_id("plant 1", "BRG:6205/2RS~x", 7)
    assert wid == "po:plant_1:BRG_6205_2RS_x:7"
    first = po_number_for(wid, "0198ab12-aaaa")
    assert first == "PO-plant_1:BRG_6205_2RS_x:7~ab12aaaa" == po_number_for(wid, "0198ab12-aaaa")  # run id's random end
    # a later run for the same problem key orders under a new number, to the same workflow id
    later = po_number_for(wid, "0198ffff-bbbb")
    assert later != first and part_order_id_for_po(first) == part_order_id_for_po(later) == wid


def test_workflow_modules_import_no_httpx_numpy_or_ray() -> None:
    code = (
        "import sys\n"
        "import workflows.part_order.workflow, workflows.maintenance.workflow, workflows.reroute.workflow\n"
        "print(sorted(m for m in ('httpx', 'numpy', 'ray') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_gate_says_when_no_declared_people_can_complete_the_request() -> None:
    from workflows.models import Approver

    people = (Approver(name="max", roles=("plant_manager",), limit=100_000),
              Approver(name="eva", roles=("plant_manager",), limit=100_000))
    assert gate(8000).unmet() is None  # people unknown, the role reaches the amount
    assert "none of these roles may approve more than 100,000.00" in (gate(200_000).unmet() or "")
    g = ApprovalGate()
    g.open(ApprovalRequest(subject="PO-1", requested_by="policy:x", amount=8000,
                           policy=POLICY.model_copy(update={"approvers": people[:1]})), T0)
    assert "2 of: plant_manager for 8,000.00 EUR, but only 1 declared user(s) may sign" in (g.unmet() or "")
    g.open(ApprovalRequest(subject="PO-1", requested_by="policy:x", amount=8000,
                           policy=POLICY.model_copy(update={"approvers": people})), T0)
    assert g.unmet() is None
