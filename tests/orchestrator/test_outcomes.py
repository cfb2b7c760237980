"""How a closed workflow run reads in the decision log (``orchestrator.outcomes.result_of``)."""

from __future__ import annotations

from orchestrator.outcomes import result_of


def _approval(state: str, *votes: tuple[str, bool, str]) -> dict[str, object]:
    return {
        "state": state,
        "votes": [{"user": u, "role": "r", "approve": a, "comment": c} for u, a, c in votes],
        "reason": "from the gate",
    }


def test_a_received_order_names_its_signers_and_po() -> None:
    payload = {"po_number": "PO-1~a", "status": "received", "supplier_order_id": "SO-000001",
               "approval": _approval("approved", ("carla", True, "ok"), ("ben", True, ""))}
    result = result_of("po:s:BAR:1", "run-1", "completed", payload)
    assert (result.ended, result.by, result.ref) == ("received", ("carla", "ben"), "PO-1~a")
    assert result.summary() == "received by carla, ben (PO-1~a)"


def test_a_rejected_order_names_who_rejected_and_why_and_no_partner_reference() -> None:
    payload = {"po_number": "PO-2~b", "status": "rejected", "supplier_order_id": "",
               "approval": _approval("rejected", ("carla", True, "fine"), ("ben", False, "price too high"))}
    result = result_of("po:s:BAR:1", "run-2", "completed", payload)
    assert result.summary() == "rejected by ben — price too high"


def test_maintenance_reroute_and_failures() -> None:
    maint = {"status": "closed", "work_order_id": "WO-000002", "reason": "mill-1 healthy again",
             "approval": _approval("approved", ("ana", True, "go"))}
    assert result_of("maint:s:mill-1", "r", "completed", maint).summary() == (
        "closed by ana (WO-000002) — mill-1 healthy again"
    )
    reroute = {"status": "restored", "moves": [{"job_id": "J-1", "to_machine": "mill-2"}], "unplaced": ["J-1002"]}
    text = result_of("reroute:s:mill-1", "r", "completed", reroute).summary()
    assert text == "restored (J-1 → mill-2) — jobs J-1002 stay: no capable machine"
    failed = result_of("wo:s:x", "r", "failed", None, failure="activity timed out")
    assert (failed.ended, failed.reason, failed.by) == ("failed", "activity timed out", ())
