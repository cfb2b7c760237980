"""`autoops approvals` against the session's dev server: list, refused self-approval, approve, reject."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from orchestrator.approvals import TemporalApprovals
from tests.workflows.conftest import Stack, unique
from tests.workflows.test_part_order import eventually, order_input, result_of
from workflows.models import ApprovalState, ApprovalStatus, ApprovalVote, PartOrderStatus
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_part_order

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

PLANT = """
site = "plant1"
[roles.buyer]
approval_limit = 1000
[roles.operator]
approval_limit = 0
can_approve = false
[[users]]
name = "alice"
roles = ["buyer"]
[[users]]
name = "bob"
roles = ["buyer"]
"""


async def autoops(stack: Stack, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(Path(sys.executable).parent / "autoops"), "approvals", *args,
           "--address", stack.temporal.address, "--config", str(config)]
    return await asyncio.to_thread(
        subprocess.run, cmd, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


async def test_list_approve_and_reject_from_the_command_line(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "plant.toml"
    config.write_text(PLANT)
    approve_me = await start_part_order(stack.client, order_input("BRG-6308-ZZ", 20, 38.0, requested_by="alice"),
                                        n=unique(), task_queue=stack.task_queue)
    reject_me = await start_part_order(stack.client, order_input("BELT-XPZ-1250", 30, 22.0, requested_by="alice"),
                                       n=unique(), task_queue=stack.task_queue)

    async def both_listed() -> list[dict[str, object]]:
        out = await autoops(stack, config, "list", "--json")
        assert out.returncode == 0, out.stderr
        rows = [r for r in json.loads(out.stdout) if r["workflow_id"] in (approve_me.id, reject_me.id)]
        return rows if len(rows) == 2 else []

    rows = await eventually(both_listed)
    assert {r["state"] for r in rows} == {"pending"}
    assert {r["amount"] for r in rows} == {760.0, 660.0}

    own = await autoops(stack, config, "approve", approve_me.id, "--as", "alice")
    assert own.returncode == 2 and "separation of duties" in own.stderr
    stranger = await autoops(stack, config, "approve", approve_me.id, "--as", "mallory")
    assert stranger.returncode == 2 and "'mallory' is not declared" in stranger.stderr

    ok = await autoops(stack, config, "approve", approve_me.id, "--as", "bob", "--comment", "needed")
    assert ok.returncode == 0 and "approved" in ok.stdout
    assert (await result_of(approve_me)).status == PartOrderStatus.RECEIVED

    no_comment = await autoops(stack, config, "reject", reject_me.id, "--as", "bob")
    assert no_comment.returncode == 2 and "needs a comment" in no_comment.stderr
    rejected = await autoops(stack, config, "reject", reject_me.id, "--as", "bob", "--comment", "too many belts")
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    result = await result_of(reject_me)
    assert result.status == PartOrderStatus.REJECTED and stack.supplier_orders(result.po_number) == []
    assert (await reject_me.query(PartOrderWorkflow.approval)).state == ApprovalState.REJECTED


async def test_web_backend_view_and_vote_with_the_approvers_own_limit(stack: Stack) -> None:
    approvals = TemporalApprovals(stack.client)
    handle = await start_part_order(
        stack.client,
        order_input("BRG-6308-ZZ", 20, 38.0).model_copy(update={"explanation": "bearing stock at 1 week cover"}),
        n=unique(), task_queue=stack.task_queue,
    )

    async def shown() -> object:
        return await approvals.approval(handle.id)

    item = await eventually(shown)
    assert item.kind == "part_order" and item.amount == 760.0 and item.roles == ("buyer",)
    assert item.creates.startswith("PO-plant1:BRG-6308-ZZ:") and item.creates.endswith("to reference: 20 x BRG-6308-ZZ")
    assert item.explanation == "bearing stock at 1 week cover"
    assert item.deadline is not None and item.requested_at is not None and item.deadline > item.requested_at

    async def listed() -> bool:  # visibility (the search attribute index) trails the workflow a little
        return handle.id in {i.id for i in await approvals.pending_approvals()}

    await eventually(listed)

    low = await approvals.vote(handle.id, user="bob", role="buyer", limit=500, approve=True, comment="")
    assert not low.ok and "bob may approve up to 500 EUR; this request is 760 EUR" in low.message
    done = await approvals.vote(handle.id, user="bob", role="buyer", limit=1000, approve=True, comment="ok")
    assert done.ok and done.state == "approved"
    assert (await result_of(handle)).status == PartOrderStatus.RECEIVED
    assert await approvals.approval(handle.id) is None  # no longer waiting for anyone


async def test_an_overlong_comment_is_refused_by_the_cli_and_the_workflow(
    stack: Stack, tmp_path: Path
) -> None:
    config = tmp_path / "plant.toml"
    config.write_text(PLANT)
    handle = await start_part_order(stack.client, order_input("BRG-6308-ZZ", 20, 38.0, requested_by="alice"),
                                    n=unique(), task_queue=stack.task_queue)
    approvals = TemporalApprovals(stack.client)

    async def shown() -> object:
        return await approvals.approval(handle.id)

    await eventually(shown)
    cli = await autoops(stack, config, "reject", handle.id, "--as", "bob", "--comment", "x" * 5000)
    assert cli.returncode == 2 and "--comment: the comment is 5,000 characters; at most 4,000" in cli.stderr
    huge = await approvals.vote(handle.id, user="bob", role="buyer", limit=1000, approve=False,
                                comment="x" * 3_000_000)
    assert not huge.ok and "3,000,000 characters; at most 4,000" in huge.message
    # Past the web API and the CLI (an older client, a script): the Update validator refuses it at
    # once and the workflow keeps waiting. (Over 2 MB not even a rejection fits in a Temporal
    # payload, which is why the clients above check before sending.)
    raw = stack.client.get_workflow_handle(handle.id)
    vote = ApprovalVote(user="bob", role="buyer", approve=False, comment="x" * 100_000, limit=1000)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await raw.execute_update("decide", vote, result_type=ApprovalStatus)
    assert "100,000 characters; at most 4,000" in str(refused.value.cause)
    assert (await handle.query(PartOrderWorkflow.approval)).state == ApprovalState.PENDING
    done = await approvals.vote(handle.id, user="bob", role="buyer", limit=1000, approve=True,
                                comment="y" * 4000)
    assert done.ok and done.state == "approved"
    assert (await result_of(handle)).status == PartOrderStatus.RECEIVED
