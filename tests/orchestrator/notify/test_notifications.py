"""Routing, the sent-log and digests of ``Notifications`` against a real SMTP server on loopback,
and the signed webhook against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from orchestrator.config import parse_config
from orchestrator.notify.channels import NotificationError
from orchestrator.notify.service import Directory, Notifications, route
from orchestrator.reference.serve import serve_app
from orchestrator.temporal import free_port
from tests.orchestrator.notify.mailbox import body, smtp_server
from workflows.integrations.signing import SIGNATURE_HEADER, verify
from workflows.models import Notification, NotificationKind

pytestmark = pytest.mark.asyncio

SECRET = "hook-test-secret"


def plant(port: int, **notifications: Any) -> dict[str, Any]:
    return {
        "site": "plant1",
        "lines": [{"id": "L1"}, {"id": "L2"}],
        "machines": [{"id": "press-1", "line": "L1"}, {"id": "lathe-2", "line": "L2"}],
        "roles": {"buyer": {"approval_limit": 1000}, "plant_manager": {"approval_limit": 50000},
                  "maintenance_lead": {"approval_limit": 2000}},
        "users": [
            {"name": "carla", "roles": ["buyer"], "email": "carla@plant.example"},
            {"name": "ben", "roles": ["plant_manager", "maintenance_lead"], "email": "ben@plant.example"},
            {"name": "omar", "roles": ["buyer"]},  # no address: not mailed
        ],
        "notifications": {
            "base_url": "https://autoops.plant.example",
            "smtp": {"host": "127.0.0.1", "port": port, "from": "autoops@plant.example", "starttls": False},
            **notifications,
        },
    }


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def note(event: str, roles: tuple[str, ...] = ("buyer",), **kw: Any) -> Notification:
    return Notification(
        workflow_id="po:plant1:BRG:1", run_id="run-1", event=event, roles=roles,
        subject="PO-1 (acme, 1500 EUR)", message="PO-1 waits for approval", link_path="/approvals/po:plant1:BRG:1",
        kind=NotificationKind.APPROVAL_REQUESTED, **kw,
    )


async def test_one_mail_per_address_with_a_deep_link_and_never_twice(tmp_path: Path) -> None:
    with smtp_server() as (box, port):
        config = parse_config(plant(port))
        async with httpx.AsyncClient() as http:
            notes = Notifications.from_config(config, http=http, state_dir=tmp_path)
            try:
                await notes(note("1:approval_requested", roles=("buyer", "plant_manager", "maintenance_lead")))
                # ben holds two of the roles: one mail, naming both.
                assert sorted(m["To"] for m in box.messages) == ["ben@plant.example", "carla@plant.example"]
                ben = box.to("ben@plant.example")[0]
                assert "plant_manager, maintenance_lead" in body(ben)
                assert "https://autoops.plant.example/approvals/po%3Aplant1%3ABRG%3A1" in body(ben)
                assert ben["Subject"] == "[autoops] PO-1 (acme, 1500 EUR)" and ben["From"] == "autoops@plant.example"

                # The same event again (a retried activity) sends nothing; a new event does.
                await notes(note("1:approval_requested", roles=("buyer", "plant_manager", "maintenance_lead")))
                assert len(box.messages) == 2
            finally:
                notes.close()
            # The sent-log is on disk: a restarted worker still knows.
            again = Notifications.from_config(config, http=http, state_dir=tmp_path)
            try:
                await again(note("1:approval_requested", roles=("buyer", "plant_manager")))
                assert len(box.messages) == 2
                assert {r["recipient"] for r in again.log.rows()} == {"email:ben@plant.example", "email:carla@plant.example"}
            finally:
                again.close()


async def test_a_refused_recipient_is_retried_alone(tmp_path: Path) -> None:
    with smtp_server() as (box, port):
        box.refuse["ben@plant.example"] = 1
        async with httpx.AsyncClient() as http:
            notes = Notifications.from_config(parse_config(plant(port)), http=http, state_dir=tmp_path)
            try:
                with pytest.raises(NotificationError, match="ben@plant.example"):
                    await notes(note("1:approval_requested", roles=("buyer", "plant_manager")))
                assert [m["To"] for m in box.messages] == ["carla@plant.example"]
                await notes(note("1:approval_requested", roles=("buyer", "plant_manager")))  # the retry
                assert sorted(m["To"] for m in box.messages) == ["ben@plant.example", "carla@plant.example"]
            finally:
                notes.close()


async def test_a_server_that_is_down_fails_fast_with_the_reason_and_no_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()  # nothing listens there
    cfg = plant(port)
    cfg["notifications"]["smtp"].update({"username": "autoops", "password_env": "TEST_SMTP_PW", "starttls": True})
    config = parse_config(cfg)
    monkeypatch.setenv("TEST_SMTP_PW", "s3cret-pw")
    async with httpx.AsyncClient() as http:
        notes = Notifications.from_config(config, http=http, state_dir=None)
        try:
            with pytest.raises(NotificationError) as failed:
                await notes(note("1:approval_requested"))
        finally:
            notes.close()
    assert f"127.0.0.1:{port}" in str(failed.value) and "s3cret" not in str(failed.value)


async def test_many_messages_in_a_short_window_become_one_digest(tmp_path: Path) -> None:
    clock = Clock()
    with smtp_server() as (box, port):
        config = parse_config(plant(port, digest_after=2, digest_window_s=600))
        async with httpx.AsyncClient() as http:
            notes = Notifications.from_config(config, http=http, state_dir=tmp_path, clock=clock)
            try:
                for i in range(6):
                    await notes(Notification(
                        workflow_id=f"po:plant1:X:{i}", run_id="r", event=f"{i}:info", roles=("buyer",),
                        subject=f"item {i}", message=f"message {i}", link_path=f"/approvals/po:plant1:X:{i}"))
                    clock.now += timedelta(seconds=30)
                assert [m["Subject"] for m in box.to("carla@plant.example")] == ["[autoops] item 0", "[autoops] item 1"]
                assert await notes.flush_digests() == 0  # the window is still open
                clock.now += timedelta(seconds=600)
                # Two workers share the state: one of them sends the digest.
                other = Notifications.from_config(config, http=http, state_dir=tmp_path, clock=clock)
                try:
                    assert sorted(await asyncio.gather(notes.flush_digests(), other.flush_digests())) == [0, 1]
                finally:
                    other.close()
                digest = box.to("carla@plant.example")[-1]
                assert digest["Subject"] == "[autoops] 4 notifications"
                assert all(f"item {i}" in body(digest) for i in range(2, 6))
                assert "/approvals/po%3Aplant1%3AX%3A5" in body(digest)
                assert await notes.flush_digests() == 0  # sent once
                # The window has passed: the next message goes out on its own again.
                clock.now += timedelta(seconds=601)
                await notes(Notification(workflow_id="w", run_id="r", event="9:info", roles=("buyer",),
                                         subject="later", message="m"))
                assert box.to("carla@plant.example")[-1]["Subject"] == "[autoops] later"
            finally:
                notes.close()


async def test_routes_match_role_line_and_priority() -> None:
    config = parse_config(plant(25, webhooks=[{"name": "chat", "url": "http://127.0.0.1:9/h", "secret_env": "X"}],
                                routes=[{"lines": ["L1"], "priorities": ["P1"], "webhooks": ["chat"]},
                                        {"roles": ["maintenance_lead"], "email": ["shift-leads@plant.example"]}]))
    directory = Directory.from_config(config)
    settings = config.notifications

    def who(**kw: Any) -> set[str]:
        return {r.key for r in route(settings, directory, note("e", **kw))}

    assert who(roles=("maintenance_lead",), asset_id="press-1", priority="P1") == {
        "email:ben@plant.example", "email:shift-leads@plant.example", "webhook:chat"}
    assert "webhook:chat" not in who(roles=("maintenance_lead",), asset_id="press-1", priority="P2")
    assert "webhook:chat" not in who(roles=("maintenance_lead",), asset_id="lathe-2", priority="P1")
    assert who(roles=("buyer",)) == {"email:carla@plant.example"}


async def test_webhook_is_signed_and_carries_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        received.append((dict(request.headers), await request.body()))
        return {"ok": "yes"}

    server = serve_app(app)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    try:
        config = parse_config({
            "site": "plant1", "roles": {"buyer": {}},
            "notifications": {"base_url": "http://ui.example", "webhooks": [
                {"name": "chat", "url": f"{server.url}/hook", "secret_env": "HOOK_SECRET"}],
                "routes": [{"roles": ["buyer"], "webhooks": ["chat"]}]},
        })
        async with httpx.AsyncClient() as http:
            notes = Notifications.from_config(config, http=http, state_dir=None)
            try:
                await notes(note("1:approval_requested"))
                await notes(note("1:approval_requested"))  # retried: not posted again
            finally:
                notes.close()
    finally:
        server.stop()
    assert len(received) == 1
    headers, raw = received[0]
    verify(SECRET, httpx.Headers(headers), raw, now=datetime.now(UTC))  # raises if forged
    with pytest.raises(Exception, match="does not match"):
        verify("another-secret", httpx.Headers(headers), raw, now=datetime.now(UTC))
    assert headers[SIGNATURE_HEADER.lower()].startswith("v1=")
    payload = json.loads(raw)
    assert payload["link"] == "http://ui.example/approvals/po%3Aplant1%3ABRG%3A1"
    assert payload["kind"] == "approval_requested" and payload["roles"] == ["buyer"]
    assert headers["idempotency-key"] == payload["id"] == "po:plant1:BRG:1/run-1/1:approval_requested/webhook:chat"
