"""Business ids and partner references: one per problem, one per run of it."""

from __future__ import annotations

from workflows.models import (
    part_order_id_for_po,
    po_number_for,
    work_order_ref,
    workflow_id_for_ref,
)

# Two real Temporal run ids (UUIDv7) of one workflow id, started a few seconds apart: the first
# eight digits are the same timestamp.
RUN_1 = "01a22cd1-5a3e-7b2c-9f41-3c6d2e8a1b07"
RUN_2 = "01a22cd1-9c07-7e11-8d2a-51f0b6c4e9d3"


def test_runs_a_minute_apart_get_their_own_po_number_and_work_order_ref() -> None:
    assert po_number_for("po:pc:BAR-40:3", RUN_1) != po_number_for("po:pc:BAR-40:3", RUN_2)
    assert work_order_ref("wo:pc:lathe-1:instrument:t", RUN_1) != work_order_ref("wo:pc:lathe-1:instrument:t", RUN_2)


def test_references_lead_back_to_their_workflow() -> None:
    wf = "maint:pc:mill-1"
    assert workflow_id_for_ref(work_order_ref(wf, RUN_1)) == wf
    assert workflow_id_for_ref(wf) == wf  # a ref made before refs named the run
    assert part_order_id_for_po(po_number_for("po:pc:BAR-40:3", RUN_2)) == "po:pc:BAR-40:3"
