"""`autoops approvals` against the session's dev server: list (Temporal), and approve / reject through
the web API on loopback with personal API tokens: refused self-approval, approve, reject."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from orchestrator.approvals import TemporalApprovals
from orchestrator.passwords import hash_password
from tests.workflows.conftest import Stack, unique
from tests.workflows.test_part_order import eventually, order_input, result_of
from tests.workflows.web_cli import create_token, live_web, revoke_token, vote_cli
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


def plant_with_passwords() -> dict[str, Any]:
    """PLANT, with passwords ("<name>-pw") so alice and bob can sign in and make API tokens."""
    data = tomllib.loads(PLANT)
    for user in data["users"]:
        user["password_hash"] = hash_password(f"{user['name']}-pw", salt=user["name"].encode().ljust(16, b"0"))
    return data


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

    async with live_web(plant_with_passwords(), stack.client) as url:
        alice = await create_token(url, "alice", "alice-pw")
        bob = await create_token(url, "bob", "bob-pw")
        own = await vote_cli(url, alice, "approve", approve_me.id)
        assert own.returncode == 2 and "separation of duties" in own.stderr
        impostor = await vote_cli(url, alice, "approve", approve_me.id, "--as", "bob")
        assert impostor.returncode == 2 and "this API token is alice's" in impostor.stderr

        ok = await vote_cli(url, bob, "approve", approve_me.id, "--comment", "needed")
        assert ok.returncode == 0 and "approved by bob" in ok.stdout, ok.stderr
        assert (await result_of(approve_me)).status == PartOrderStatus.RECEIVED

        no_comment = await vote_cli(url, bob, "reject", reject_me.id)
        assert no_comment.returncode == 2 and "needs a comment" in no_comment.stderr
        rejected = await vote_cli(url, bob, "reject", reject_me.id, "--comment", "too many belts")
        assert rejected.returncode == 0 and "rejected" in rejected.stdout, rejected.stderr
        for out in (own, impostor, no_comment):
            assert "Traceback" not in out.stderr
            assert bob not in out.stderr + out.stdout and alice not in out.stderr + out.stdout
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
    assert item.creates.startswith("purchase order PO-plant1:BRG-6308-ZZ:") and item.creates.endswith("to reference: 20 × BRG-6308-ZZ")
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
    # Refused before anything is sent (the token is not even checked).
    cli = await vote_cli("http://127.0.0.1:9", "aot_0_x", "reject", handle.id, "--comment", "x" * 5000)
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


async def test_the_cli_refuses_to_approve_without_a_valid_token_and_approves_with_one(stack: Stack) -> None:
    handle = await start_part_order(stack.client, order_input("BRG-6308-ZZ", 20, 38.0, requested_by="alice"),
                                    n=unique(), task_queue=stack.task_queue)
    approvals = TemporalApprovals(stack.client)

    async def shown() -> object:
        return await approvals.approval(handle.id)

    await eventually(shown)
    async with live_web(plant_with_passwords(), stack.client) as url:
        none = await vote_cli(url, None, "approve", handle.id, "--as", "bob")
        assert none.returncode == 2 and "no API token: set AUTOOPS_API_TOKEN" in none.stderr
        forged = await vote_cli(url, "aot_0123456789ab_not-a-real-secret", "approve", handle.id)
        assert forged.returncode == 2 and "refused the API token (unknown or revoked)" in forged.stderr
        revoked = await create_token(url, "bob", "bob-pw")
        await revoke_token(url, "bob", "bob-pw", revoked)
        late = await vote_cli(url, revoked, "approve", handle.id)
        assert late.returncode == 2 and "refused the API token" in late.stderr
        for out in (none, forged, late):
            assert "Traceback" not in out.stderr and revoked not in out.stderr
        status = await approvals.status(handle.id)
        assert status is not None and status.state == ApprovalState.PENDING and status.votes == ()

        token = await create_token(url, "bob", "bob-pw")
        ok = await vote_cli(url, token, "approve", handle.id, "--comment", "checked")
        assert ok.returncode == 0 and "approved by bob" in ok.stdout, ok.stderr
    result = await result_of(handle)
    assert result.status == PartOrderStatus.RECEIVED
    assert [(v.user, v.comment) for v in result.approval.votes] == [("bob", "checked")]
