"""A part order waiting for people mails each approver role it needs, with a link that opens the
item after sign-in; a retried notify activity sends nothing twice; a reminder goes out before the
deadline.

A real SMTP server on loopback (aiosmtpd), the real Temporal dev server (and the time-skipping
server for the deadline), the real reference supplier, the web app on a real uvicorn server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from orchestrator.config import parse_config
from orchestrator.notify.service import Notifications
from orchestrator.passwords import hash_password
from orchestrator.reference.serve import ReferenceStack
from orchestrator.temporal import free_port, register_search_attributes, time_skipping_server_path
from policies.models import ApprovalRequirement, Autonomy, OrderParts, PartLine
from tests.orchestrator.notify.mailbox import body, smtp_server
from tests.workflows.conftest import unique
from tests.workflows.test_part_order import eventually, order_input, vote, wait_state
from tests.workflows.web_cli import live_web
from workflows.common import NotifyActivities, StockLedger
from workflows.models import (
    ApprovalPolicy,
    ApprovalState,
    ApprovalTier,
    CancelRequest,
    Notification,
    NotificationKind,
    PartOrderInput,
)
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_part_order
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CARLA, BEN = "carla@plant.example", "ben@plant.example"


def plant(smtp_port: int, base_url: str = "") -> dict[str, Any]:
    """A buyer and a plant manager with mail addresses and passwords, and the local mail server."""
    def user(name: str, role: str, address: str) -> dict[str, Any]:
        return {"name": name, "roles": [role], "email": address,
                "password_hash": hash_password(f"{name}-pw", salt=name.encode().ljust(16, b"0"))}

    return {
        "site": "plant1",
        "roles": {"buyer": {"approval_limit": 1000}, "plant_manager": {"approval_limit": 50000}},
        "users": [user("carla", "buyer", CARLA), user("ben", "plant_manager", BEN)],
        "notifications": {
            "base_url": base_url,
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "autoops@plant.example", "starttls": False},
        },
    }


@asynccontextmanager
async def notifying_worker(
    client: Client, notes: Notifications, partners: ReferenceStack | None = None
) -> AsyncIterator[str]:
    """A worker of every workflow whose ``notify`` activity is ``notes``; yields its task queue."""
    urls = (partners.supplier_url, partners.cmms_url, partners.mes_url) if partners else ("http://127.0.0.1:9",) * 3
    http = [httpx.AsyncClient(base_url=url) for url in urls]
    deps = WorkerDeps.from_http(supplier=http[0], cmms=http[1], mes=http[2], stock=StockLedger(), notifier=notes)
    queue = unique("notify-")
    try:
        async with build_worker(client, deps, task_queue=queue):
            yield queue
    finally:
        for h in http:
            await h.aclose()


def above_the_buyers_limit() -> PartOrderInput:
    """1 500 EUR: above the auto limit and the buyer's; the policy asks for a buyer, the cost tier
    adds the plant manager, so two roles are asked."""
    inp = order_input("BRG-6308-ZZ", 40, 37.5, autonomy=Autonomy.AUTO)
    return inp.model_copy(update={"requirement": ApprovalRequirement(roles=("buyer",))})


async def test_a_pending_order_mails_each_approver_role_once_with_a_link_to_the_item(
    client: Client, partners: ReferenceStack, tmp_path: Path
) -> None:
    with smtp_server() as (box, port):
        async with live_web(plant(port), client) as web_url:
            config = parse_config(plant(port, base_url=web_url))
            async with httpx.AsyncClient() as hooks:
                notes = Notifications.from_config(config, http=hooks, state_dir=tmp_path)
                try:
                    async with notifying_worker(client, notes, partners) as queue:
                        handle = await start_part_order(client, above_the_buyers_limit(), n=unique(), task_queue=queue)
                        status = await wait_state(handle, ApprovalState.PENDING)
                        assert status.roles == ("buyer", "plant_manager")
                        await eventually(lambda: _async(len(box.messages) >= 2))
                        assert sorted(m["To"] for m in box.messages) == [BEN, CARLA]
                        mail = box.to(BEN)[0]
                        assert handle.id in body(mail) and "waits for approval" in body(mail)
                        link = re.search(r"Open it: (\S+)", body(mail)).group(1)  # type: ignore[union-attr]
                        assert link.startswith(web_url)
                        await _follow_link_and_sign_in(link, web_url, handle.id)
                        await handle.execute_update(PartOrderWorkflow.cancel, CancelRequest(user="ben", reason="test done"))
                        await handle.result()
                        assert len(box.messages) == 2  # one per role, and nothing more for this order
                finally:
                    notes.close()


async def _async(value: Any) -> Any:
    return value


async def _follow_link_and_sign_in(link: str, web_url: str, workflow_id: str) -> None:
    """What ben does: click the link, land on the sign-in form, sign in, land on the item."""
    async with httpx.AsyncClient(base_url=web_url) as browser:
        first = await browser.get(urlsplit(link).path)
        assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
        form = await browser.get(first.headers["location"])
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        nxt = re.search(r'name="next" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        signed = await browser.post("/login", data={"username": "ben", "password": "ben-pw",
                                                    "csrf_token": csrf, "next": nxt})
        assert signed.status_code == 303
        item = await browser.get(signed.headers["location"])
        assert item.status_code == 200
        assert f'data-id="{workflow_id}"' in item.text and "Approve" in item.text  # ben may act on it
    # An address of another site is never followed after sign-in (no open redirect).
    async with httpx.AsyncClient(base_url=web_url) as browser:
        form = await browser.get("/login", params={"next": "//evil.example/x"})
        assert 'name="next"' not in form.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        evil = await browser.post("/login", data={"username": "ben", "password": "ben-pw",
                                                  "csrf_token": csrf, "next": "//evil.example/x"})
        assert evil.status_code == 303 and evil.headers["location"] == "/approvals"


async def test_a_retried_notify_activity_mails_nobody_twice(
    client: Client, partners: ReferenceStack, tmp_path: Path
) -> None:
    with smtp_server() as (box, port):
        box.refuse[BEN] = 1  # the first attempt reaches carla, then the server turns ben away once
        config = parse_config(plant(port, base_url="http://autoops.test"))
        async with httpx.AsyncClient() as hooks:
            notes = Notifications.from_config(config, http=hooks, state_dir=tmp_path)
            try:
                async with notifying_worker(client, notes, partners) as queue:
                    handle = await start_part_order(client, above_the_buyers_limit(), n=unique(), task_queue=queue)
                    await eventually(lambda: _async(box.to(BEN)))  # Temporal retried the activity
                    assert box.refused == [BEN]
                    assert len(box.to(CARLA)) == 1 and len(box.to(BEN)) == 1
                    status = await vote(handle, "ben", "plant_manager")
                    assert status.state == ApprovalState.APPROVED
                    assert len(box.messages) == 2
                    await handle.terminate("test done")  # the supplier side is other tests' business
            finally:
                notes.close()


async def test_running_the_activity_twice_sends_once(tmp_path: Path) -> None:
    """The activity itself, run twice as a retry would (same workflow, run and event)."""
    with smtp_server() as (box, port):
        async with httpx.AsyncClient() as hooks:
            notes = Notifications.from_config(parse_config(plant(port)), http=hooks, state_dir=tmp_path)
            try:
                activity = NotifyActivities(notes)
                env = ActivityEnvironment()
                note = Notification(workflow_id="po:plant1:X:1", roles=("buyer", "plant_manager"), subject="PO-1",
                                    message="waits", kind=NotificationKind.APPROVAL_REQUESTED)
                await env.run(activity.notify, note)
                await env.run(activity.notify, note)
                assert sorted(m["To"] for m in box.messages) == [BEN, CARLA]
            finally:
                notes.close()


async def test_a_reminder_goes_out_before_the_deadline(tmp_path: Path) -> None:
    policy = ApprovalPolicy(
        tiers=(ApprovalTier(name="buyer", roles=("buyer",), deadline_s=4 * 3600),
               ApprovalTier(name="manager", above=10_000, roles=("plant_manager",), deadline_s=8 * 3600)),
        role_limits={"buyer": 1000, "plant_manager": 50_000},
        remind_before_s=(3600.0,),
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(time_skipping_server_path())
    )
    await register_search_attributes(env.client)
    try:
        with smtp_server() as (box, port):
            async with httpx.AsyncClient() as hooks:
                notes = Notifications.from_config(parse_config(plant(port)), http=hooks, state_dir=tmp_path)
                try:
                    async with notifying_worker(env.client, notes) as queue:
                        handle = await start_part_order(
                            env.client,
                            PartOrderInput(
                                site="s1", approval=policy, autonomy=Autonomy.APPROVE,
                                order=OrderParts(supplier="acme", lines=(PartLine(sku="BRG", quantity=2, unit_price=300),)),
                            ),
                            n=uuid.uuid4().hex[:6], task_queue=queue,
                        )
                        await eventually(lambda: _async(box.to(CARLA)))
                        assert "waits for approval" in body(box.to(CARLA)[0])

                        await env.sleep(3 * 3600 + 60)  # one minute past the reminder, 59 before the deadline
                        await eventually(lambda: _async(len(box.to(CARLA)) >= 2))
                        reminder = box.to(CARLA)[1]
                        assert "Reminder" in body(reminder) and "in 1 h" in body(reminder)
                        status = await handle.query(PartOrderWorkflow.approval)
                        assert status.state == ApprovalState.PENDING and status.escalations == ()
                        assert status.deadline is not None and f"{status.deadline:%Y-%m-%d %H:%M}" in body(reminder)

                        await env.sleep(3600)  # past the deadline: the escalation is the next mail
                        await eventually(lambda: _async(len(box.to(CARLA)) >= 3))
                        assert "escalated" in body(box.to(CARLA)[2])
                        assert len(box.to(BEN)) == 1  # the manager hears of it only now
                        await handle.execute_update(PartOrderWorkflow.cancel, CancelRequest(user="carla", reason="done"))
                        await handle.result()
                finally:
                    notes.close()
    finally:
        await env.shutdown()




async def test_a_mail_server_that_is_down_neither_hangs_nor_fails_the_workflow(tmp_path: Path) -> None:
    """Retried with backoff (time skipped), then the workflow reports it and keeps waiting for people."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(time_skipping_server_path())
    )
    await register_search_attributes(env.client)
    down = free_port()  # nothing listens there
    try:
        async with httpx.AsyncClient() as hooks:
            notes = Notifications.from_config(parse_config(plant(down)), http=hooks, state_dir=tmp_path)
            try:
                async with notifying_worker(env.client, notes) as queue:
                    handle = await start_part_order(
                        env.client,
                        PartOrderInput(
                            site="s1", autonomy=Autonomy.APPROVE,
                            order=OrderParts(supplier="acme", lines=(PartLine(sku="BRG", quantity=2, unit_price=300),)),
                        ),
                        n=uuid.uuid4().hex[:6], task_queue=queue,
                    )

                    async def gave_up() -> str:
                        async for event in handle.fetch_history_events():
                            if event.HasField("activity_task_failed_event_attributes"):
                                return str(event.activity_task_failed_event_attributes.failure.message)
                        await env.sleep(30)  # let the retry backoff pass
                        return ""

                    reason = await eventually(gave_up)
                    assert f"127.0.0.1:{down}" in reason and "is the server up" not in reason
                    status = await handle.query(PartOrderWorkflow.approval)
                    assert status.state == ApprovalState.PENDING  # still in the inbox, still waiting
                    await handle.execute_update(PartOrderWorkflow.cancel, CancelRequest(user="carla", reason="done"))
                    assert (await handle.result()).status.value == "cancelled"
                    assert notes.log.rows() == []  # nothing recorded as sent
            finally:
                notes.close()
    finally:
        await env.shutdown()
