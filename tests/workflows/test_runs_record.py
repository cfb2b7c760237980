"""Every run is its own record: three successive orders under one business id each keep their own
decision, amount, votes and outcome, on the workflow page and in the decision log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.backend import PlantBackend
from orchestrator.outcomes import record_result
from policies.models import (
    Autonomy,
    Decision,
    DecisionOutcome,
    OrderParts,
    PartLine,
    ProposedAction,
)
from policies.store import DecisionStore
from tests.workflows.conftest import Stack, unique
from tests.workflows.test_part_order import order_input, vote, wait_state
from workflows.models import ApprovalState
from workflows.starters import start_part_order

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def _decision(decision_id: str, qty: int, price: float) -> Decision:
    order = OrderParts(supplier="reference", lines=(PartLine(sku="BRG-6308-ZZ", quantity=qty, unit_price=price),))
    return Decision(
        decision_id=decision_id, time=datetime.now(UTC), site="plant1", asset_id="BRG-6308-ZZ",
        policy_id="material-shortage", policy_version="1.2.0", policy_source_hash="test",
        outcome=DecisionOutcome.PROPOSED,
        proposed=ProposedAction(action=order, autonomy=Autonomy.APPROVE, explanation=f"order {qty}",
                                dedup_key="po:plant1:BRG-6308-ZZ", estimated_cost=qty * price),
        explanation=f"order {qty} bearings",
    )


async def test_three_orders_under_one_id_each_keep_their_own_record(stack: Stack, tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "decisions.sqlite")
    backend = PlantBackend(stack.client, SimpleNamespace(store=store), temporal_ui_url="")  # type: ignore[arg-type]
    key = unique("bar-")
    plays = [  # quantity, who votes, approve?, comment
        (16, "carla", True, "ok"),
        (18, "carla", False, "too many: the line is stopping next week"),
        (20, "dave", True, "needed now"),
    ]
    runs: list[tuple[str, str, float]] = []  # run id, decision id, amount
    workflow_id = ""
    for qty, user, approve, comment in plays:
        decision = _decision(unique("d-"), qty, 38.0)
        store.append([decision])
        inp = order_input("BRG-6308-ZZ", qty, 38.0).model_copy(update={"decision_id": decision.decision_id})
        handle = await start_part_order(stack.client, inp, n=key, task_queue=stack.task_queue)
        workflow_id = handle.id
        await wait_state(handle, ApprovalState.PENDING)
        await vote(handle, user, "buyer", approve=approve, comment=comment)
        await asyncio.wait_for(handle.result(), timeout=120)
        description = await handle.describe()
        recorded = await record_result(stack.client, store, description, decision.decision_id, now=datetime.now(UTC))
        assert recorded is not None
        runs.append((description.run_id, decision.decision_id, qty * 38.0))

    assert len({run for run, _, _ in runs}) == 3  # one business id, three runs
    for (run_id, decision_id, amount), (_, user, approve, comment) in zip(runs, plays, strict=True):
        view = await backend.workflow(workflow_id, run_id=run_id)
        assert view is not None and view.run_id == run_id
        assert view.decision_id == decision_id  # its own decision, not the latest run's
        assert view.amount == amount
        assert view.approval == ("approved" if approve else "rejected")
        assert [r.run_id for r in view.runs] == [r for r, _, _ in reversed(runs)]
        votes = [e for e in view.timeline if e.kind == "approval"]
        assert [(e.actor, e.text) for e in votes] == [
            (f"{user} (buyer)", f"{'approved' if approve else 'rejected'}: “{comment}”")
        ]
        if approve:
            assert view.result.startswith(f"received by {user} (PO-")
        else:
            assert view.result == f"rejected by {user} — {comment}"

    latest = await backend.workflow(workflow_id)
    assert latest is not None and latest.run_id == runs[-1][0] and latest.decision_id == runs[-1][1]

    # The decision log says how each ended, not "proposed" for ever.
    rows = {row.decision_id: row for row in await backend.decisions()}
    summaries = [rows[d].results[0].summary for _, d, _ in runs]
    assert summaries[0].startswith("received by carla")
    assert summaries[1] == "rejected by carla — too many: the line is stopping next week"
    assert summaries[2].startswith("received by dave")
    # Recording a run again changes nothing.
    assert store.record_result(runs[0][1], store.get(runs[0][1]).results[0]) is False
    store.close()
