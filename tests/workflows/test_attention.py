"""An item in "attention" (a partner refused, or failed past its retries) is answered by a person:
retry now or cancel with a reason, from the web UI / API and from the CLI, by a role it was sent to.

Real Temporal dev server, real reference supplier on loopback; the web app runs over ASGI with the
same ``TemporalApprovals`` backend the orchestrator's web UI uses for approvals.
"""

from __future__ import annotations

import re

import httpx
import pytest

from orchestrator.approvals import TemporalApprovals
from orchestrator.config import parse_config
from orchestrator.passwords import hash_password
from orchestrator.web.app import create_app
from policies.models import Autonomy
from tests.workflows.conftest import FAST_RETRY, Stack, unique
from tests.workflows.test_part_order import order_input, result_of, wait_state
from tests.workflows.web_cli import create_token, live_web, vote_cli
from workflows.models import ApprovalState, PartOrderStatus
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_part_order

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

USERS = ("carla", "omar")


def plant() -> dict[str, object]:
    return {
        "site": "plant1",
        "roles": {"buyer": {"approval_limit": 1000}, "operator": {"can_approve": False}},
        "users": [
            {"name": "carla", "roles": ["buyer"],
             "password_hash": hash_password("carla-pw", salt=b"carla".ljust(16, b"0"))},
            {"name": "omar", "roles": ["operator"],
             "password_hash": hash_password("omar-pw", salt=b"omar".ljust(16, b"0"))},
        ],
    }


async def sign_in(client: httpx.AsyncClient, name: str) -> str:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"username": name, "password": f"{name}-pw", "csrf_token": csrf})
    assert response.status_code == 303, response.text
    return str((await client.get("/api/me")).json()["csrf_token"])


async def supplier_down_until_attention(stack: Stack) -> str:
    knobs = stack.partners.supplier.app.state.knobs
    knobs.update({"error_rate": 1.0})
    try:
        handle = await start_part_order(
            stack.client, order_input("BRG-6205-2RS", 10, 14.5, autonomy=Autonomy.AUTO),
            n=unique(), task_queue=stack.task_queue,
        )
        status = await wait_state(handle, ApprovalState.ATTENTION)
    finally:
        knobs.update({"error_rate": 0.0})  # the supplier is back; nothing happens until a person says so
    assert f"gave up after {FAST_RETRY.max_attempts} attempts" in status.reason
    return handle.id


class ApprovalsOnly(TemporalApprovals):
    """The approval half of the orchestrator's web backend (no board, no decision log)."""

    temporal_ui_url = ""


async def test_attention_is_answered_in_the_web_ui_by_a_role_it_was_sent_to(stack: Stack) -> None:
    workflow_id = await supplier_down_until_attention(stack)
    app = create_app(parse_config(plant()), ApprovalsOnly(stack.client))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as operator:
        csrf = await sign_in(operator, "omar")
        page = await operator.get("/approvals")
        assert workflow_id in page.text and "Retry now" not in page.text.split(workflow_id, 1)[1][:4000]
        refused = await operator.post(f"/api/approvals/{workflow_id}/retry", json={"comment": "go"},
                                      headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403 and "it needs one of: buyer" in refused.json()["message"]

    async with httpx.AsyncClient(transport=transport, base_url="http://test") as buyer:
        csrf = await sign_in(buyer, "carla")
        page = await buyer.get("/approvals")
        card = page.text.split(f'data-id="{workflow_id}"', 1)[1].split("</li>", 1)[0]
        assert "Retry now" in card and "Cancel" in card and "gave up after" in card
        # Approve / reject do not apply to a failure: the answer is retry or cancel.
        wrong = await buyer.post(f"/api/approvals/{workflow_id}/approve", json={"comment": "ok"},
                                 headers={"X-CSRF-Token": csrf})
        assert wrong.status_code == 403 and "already attention" in wrong.json()["message"]
        silent = await buyer.post(f"/api/approvals/{workflow_id}/retry", json={"comment": " "},
                                  headers={"X-CSRF-Token": csrf})
        assert silent.status_code == 403 and "comment" in silent.json()["message"]
        ok = await buyer.post(f"/approvals/{workflow_id}/retry",
                              data={"comment": "supplier is back", "csrf_token": csrf})
        assert ok.status_code == 303 and "retrying" in ok.headers["location"]

    result = await result_of(stack.client.get_workflow_handle_for(PartOrderWorkflow.run, workflow_id))
    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1

    # The JSON API's way: a second failure, cancelled with the reason.
    second = await supplier_down_until_attention(stack)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as buyer:
        csrf = await sign_in(buyer, "carla")
        cancelled = await buyer.post(f"/api/approvals/{second}/cancel",
                                     json={"comment": "ordered by phone instead"}, headers={"X-CSRF-Token": csrf})
        assert cancelled.status_code == 200 and cancelled.json()["ok"] is True, cancelled.text
    result = await result_of(stack.client.get_workflow_handle_for(PartOrderWorkflow.run, second))
    assert result.status == PartOrderStatus.ABANDONED
    assert "cancelled by carla" in result.approval.reason and "ordered by phone" in result.approval.reason


async def test_attention_is_answered_from_the_command_line(stack: Stack) -> None:
    handle = await start_part_order(  # the supplier refuses this currency: 422, a person must look
        stack.client, order_input("BELT-XPZ-1250", 1, 22.0, autonomy=Autonomy.AUTO, currency="XYZ"),
        n=unique(), task_queue=stack.task_queue,
    )
    await wait_state(handle, ApprovalState.ATTENTION)

    async with live_web(plant(), stack.client) as url:
        carla = await create_token(url, "carla", "carla-pw")
        omar = await create_token(url, "omar", "omar-pw")
        no_answer = await vote_cli(url, carla, "resolve", handle.id, "--comment", "x")
        assert no_answer.returncode == 2 and "--retry" in no_answer.stderr and "--cancel" in no_answer.stderr
        no_comment = await vote_cli(url, carla, "resolve", handle.id, "--cancel")
        assert no_comment.returncode == 2 and "--comment" in no_comment.stderr
        operator = await vote_cli(url, omar, "resolve", handle.id, "--cancel", "--comment", "x")
        assert operator.returncode == 2 and "needs one of: buyer" in operator.stderr
        for out in (no_answer, no_comment, operator):
            assert "Traceback" not in out.stderr

        done = await vote_cli(url, carla, "resolve", handle.id, "--cancel",
                              "--comment", "wrong currency; reordering in EUR")
        assert done.returncode == 0 and "abandoned" in done.stdout, done.stderr
        result = await result_of(handle)
        assert result.status == PartOrderStatus.ABANDONED
        assert "cancelled by carla" in result.approval.reason and "reordering in EUR" in result.approval.reason
        assert stack.supplier_orders(result.po_number) == []

        again = await vote_cli(url, carla, "resolve", handle.id, "--retry", "--comment", "x")
        assert again.returncode == 2 and "waits for a person" in again.stderr
