"""Web layer: sign-in, CSRF, role / limit / separation-of-duty checks, inbox order.

The backend here is an in-memory table standing in for Temporal; the browser tests run the same
pages against the real stack.
"""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from orchestrator.config import WebSettings, parse_config
from orchestrator.passwords import hash_password, verify_password
from orchestrator.web.app import create_app
from orchestrator.web.auth import Auth, SessionStore
from orchestrator.web.models import ActResult, ApprovalItem, Vote
from orchestrator.web.throttle import SignInThrottle, ThrottleRule

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


class TableBackend:
    temporal_ui_url = "http://127.0.0.1:8233"

    def __init__(self, items: list[ApprovalItem]) -> None:
        self.items = {i.id: i for i in items}
        self.sent: list[tuple[str, str, bool]] = []

    async def pending_approvals(self) -> list[ApprovalItem]:
        return [i for i in self.items.values() if i.state == "pending"]

    async def approval(self, approval_id: str) -> ApprovalItem | None:
        return self.items.get(approval_id)

    async def vote(self, approval_id, *, user, role, limit, approve, comment) -> ActResult:
        item = self.items[approval_id]
        votes = (*item.votes, Vote(user=user, role=role, approve=approve, comment=comment))
        state = (
            "approved"
            if approve and len(votes) >= item.min_approvers
            else ("pending" if approve else "rejected")
        )
        self.items[approval_id] = item.model_copy(update={"votes": votes, "state": state})
        self.sent.append((approval_id, user, approve))
        return ActResult(
            ok=True, message=f"{'approved' if approve else 'rejected'} by {user}", state=state
        )

    async def board(self):
        return []

    async def workflow(self, workflow_id, run_id=None):
        return None

    async def decisions(self, query="", limit=200):
        return []


@pytest.fixture
def config():
    h = {
        n: hash_password(f"{n}-pw", salt=n.encode().ljust(16, b"0"))
        for n in ("ana", "carla", "omar")
    }
    return parse_config(
        {
            "site": "pc",
            "roles": {
                "maintenance_lead": {"approval_limit": 5000},
                "buyer": {"approval_limit": 1000},
                "operator": {"can_approve": False},
            },
            "users": [
                {"name": "ana", "roles": ["maintenance_lead"], "password_hash": h["ana"]},
                {"name": "carla", "roles": ["buyer"], "password_hash": h["carla"]},
                {"name": "omar", "roles": ["operator"], "password_hash": h["omar"]},
            ],
        }
    )


def item(id_: str, amount: float, **kw) -> ApprovalItem:
    return ApprovalItem(
        id=id_,
        kind="part_order",
        title=f"order {id_}",
        amount=amount,
        roles=("maintenance_lead", "buyer"),
        requested_at=T0,
        **kw,
    )


async def sign_in(client: httpx.AsyncClient, name: str) -> str:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post(
        "/login", data={"username": name, "password": f"{name}-pw", "csrf_token": csrf}
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return (await client.get("/api/me")).json()["csrf_token"]


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_sign_in_wrong_password_and_pages_need_a_session(config) -> None:
    app = create_app(config, TableBackend([]))
    async with client_for(app) as client:
        assert (await client.get("/approvals")).headers["location"] == "/login"
        assert (await client.get("/api/approvals")).status_code == 401
        page = await client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        bad = await client.post(
            "/login", data={"username": "ana", "password": "nope", "csrf_token": csrf}
        )
        assert bad.status_code == 401 and "wrong password" in bad.text
        no_csrf = await client.post("/login", data={"username": "ana", "password": "ana-pw"})
        assert no_csrf.status_code == 403


async def test_post_without_csrf_is_refused_and_nothing_sent(config) -> None:
    backend = TableBackend([item("po:pc:bk:1", 800)])
    async with client_for(create_app(config, backend)) as client:
        await sign_in(client, "ana")
        response = await client.post("/approvals/po:pc:bk:1/approve", data={"comment": "ok"})
        assert response.status_code == 403 and "CSRF" in response.json()["detail"]
        response = await client.post("/api/approvals/po:pc:bk:1/approve", json={"comment": "ok"})
        assert response.status_code == 403
    assert backend.sent == []


async def test_viewer_sees_no_button_and_forged_post_is_refused(config) -> None:
    backend = TableBackend([item("po:pc:bk:1", 800)])
    async with client_for(create_app(config, backend)) as client:
        csrf = await sign_in(client, "omar")
        page = await client.get("/approvals")
        assert "order po:pc:bk:1" in page.text and 'class="approve"' not in page.text
        assert "may not approve" in page.text
        forged = await client.post(
            "/api/approvals/po:pc:bk:1/approve",
            json={"comment": "x"},
            headers={"X-CSRF-Token": csrf},
        )
        assert forged.status_code == 403 and "may not approve" in forged.json()["message"]
    assert backend.sent == []


async def test_limit_self_approval_and_reject_comment(config) -> None:
    backend = TableBackend(
        [item("big", 2500), item("mine", 100, requested_by="ana"), item("small", 300)]
    )
    async with client_for(create_app(config, backend)) as client:
        csrf = await sign_in(client, "carla")
        headers = {"X-CSRF-Token": csrf}
        over = await client.post("/api/approvals/big/approve", json={}, headers=headers)
        assert over.status_code == 403 and "above your approval limit" in over.json()["message"]
        no_comment = await client.post("/api/approvals/small/reject", json={}, headers=headers)
        assert "needs a comment" in no_comment.json()["message"]
        ok = await client.post(
            "/api/approvals/small/approve", json={"comment": "fine"}, headers=headers
        )
        assert ok.status_code == 200 and ok.json()["state"] == "approved"
    async with client_for(create_app(config, backend)) as client:
        csrf = await sign_in(client, "ana")
        own = await client.post(
            "/api/approvals/mine/approve", json={}, headers={"X-CSRF-Token": csrf}
        )
        assert "separation of duties" in own.json()["message"]
        # The form path shows the outcome at once on the inbox page.
        page = await client.post(
            "/approvals/big/approve",
            data={"csrf_token": csrf, "comment": "go"},
            follow_redirects=True,
        )
        assert "approved by ana" in page.text
    assert backend.sent == [("small", "carla", True), ("big", "ana", True)]


async def test_inbox_most_urgent_first_with_plot(config) -> None:
    from orchestrator.web.models import Series

    series = Series(
        name="velocity",
        unit="mm/s",
        times=(T0, T0 + timedelta(hours=1)),
        values=(1.0, 3.0),
        amber_at=2.8,
        red_at=4.5,
        rul_h=50,
        rul_lower_h=40,
        rul_upper_h=65,
    )
    backend = TableBackend(
        [
            item("late", 10, priority="P4"),
            item("urgent", 10, priority="P1", series=series),
        ]
    )
    async with client_for(create_app(config, backend)) as client:
        await sign_in(client, "ana")
        ids = [i["id"] for i in (await client.get("/api/approvals")).json()]
        assert ids == ["urgent", "late"]
        page = (await client.get("/approvals")).text
        assert page.index('data-id="urgent"') < page.index('data-id="late"')
        assert "<svg" in page and "amber 2.8 mm/s" in page and "RUL 50 h (40–65 h)" in page
        schema = (await client.get("/openapi.json")).json()
        assert "/api/approvals/{approval_id}/approve" in schema["paths"]


async def test_an_overlong_comment_is_refused_before_anything_is_sent(config) -> None:
    backend = TableBackend([item("small", 300)])
    long = "x" * 4001
    async with client_for(create_app(config, backend)) as client:
        csrf = await sign_in(client, "ana")
        headers = {"X-CSRF-Token": csrf}
        api = await client.post(
            "/api/approvals/small/reject", json={"comment": long}, headers=headers
        )
        assert api.status_code == 422 and "4000 characters" in api.text
        page = await client.post(
            "/approvals/small/reject",
            data={"csrf_token": csrf, "comment": long},
            follow_redirects=True,
        )
        assert "4,001 characters; at most 4,000" in page.text
        fits = await client.post(
            "/api/approvals/small/reject", json={"comment": "y" * 4000}, headers=headers
        )
        assert fits.status_code == 200 and fits.json()["state"] == "rejected"
    assert backend.sent == [("small", "ana", False)]


async def test_every_endpoint_refuses_an_oversized_body_with_413(config) -> None:
    backend = TableBackend([item("small", 300)])
    app = create_app(config, backend, max_body_bytes=8 * 1024)
    pulled = 0

    async def endless():  # no Content-Length: only counting what arrives can stop it
        nonlocal pulled
        while pulled < 100 * 1024 * 1024:
            pulled += 1024
            yield b"a" * 1024

    async with client_for(app) as client:
        csrf = await sign_in(client, "ana")
        login = await client.post("/login", data={"username": "ana", "password": "p" * 9000})
        assert login.status_code == 413 and "at most 8,192 bytes" in login.json()["detail"]
        api = await client.post(
            "/api/approvals/small/approve",
            content=endless(),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert api.status_code == 413 and pulled <= 8 * 1024 + 2 * 1024
        static = await client.post("/static/app.js", content=b"x" * 9000)
        assert static.status_code == 413
        lying = await client.post("/login", content=b"x", headers={"Content-Length": "-1"})
        assert lying.status_code == 400
        fits = await client.post(
            "/api/approvals/small/approve", json={"comment": "ok"}, headers={"X-CSRF-Token": csrf}
        )
        assert fits.status_code == 200
    assert backend.sent == [("small", "ana", True)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def attempt(
    client: httpx.AsyncClient, name: str, password: str | None = None
) -> httpx.Response:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = {"username": name, "password": password or f"{name}-pw", "csrf_token": csrf}
    return await client.post("/login", data=data)


async def test_repeated_wrong_passwords_lock_the_user_out_with_back_off(config) -> None:
    clock = Clock()
    throttle = SignInThrottle(per_user=ThrottleRule(free_failures=3, base_lock_s=30), clock=clock)
    app = create_app(config, TableBackend([]), throttle=throttle)
    async with client_for(app) as client:
        for _ in range(3):
            assert (await attempt(client, "ana", "guess")).status_code == 401
        assert (await attempt(client, "ana", "guess")).status_code == 401  # earns 30 s
        locked = await attempt(client, "ana")  # even the right password waits
        assert locked.status_code == 429 and locked.headers["Retry-After"] == "30"
        assert "too many failed sign-ins; try again in 30 s" in locked.text
        assert (await attempt(client, "carla")).status_code == 303  # another user is not locked
        clock.now += 31
        assert (await attempt(client, "ana", "guess")).status_code == 401  # earns 60 s
        assert (await attempt(client, "ana")).headers["Retry-After"] == "60"
        clock.now += 61
        assert (await attempt(client, "ana")).status_code == 303  # a success clears the count
        assert (await attempt(client, "ana", "guess")).status_code == 401
        assert (await attempt(client, "ana")).status_code == 303


async def test_many_names_guessed_from_one_address_lock_that_address(config) -> None:
    clock = Clock()
    throttle = SignInThrottle(
        per_address=ThrottleRule(free_failures=4, base_lock_s=10), clock=clock
    )
    app = create_app(config, TableBackend([]), throttle=throttle)
    async with client_for(app) as client:
        for n in range(5):
            assert (await attempt(client, f"user{n}", "guess")).status_code == 401
        assert (await attempt(client, "carla")).status_code == 429
    elsewhere = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://test") as client:
        assert (await attempt(client, "carla")).status_code == 303
    clock.now += 11
    async with client_for(app) as client:
        assert (await attempt(client, "carla")).status_code == 303


async def test_password_checks_run_off_the_event_loop_and_bounded(config) -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = peak = 0

    def slow_verify(password: str, stored: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(timeout=60)  # blocks its thread; the event loop must not be this thread
        with lock:
            running -= 1
        return verify_password(password, stored)

    auth = Auth(config, SessionStore(), verify=slow_verify, max_concurrent_hashes=2)
    app = create_app(config, TableBackend([]), auth=auth)
    async with client_for(app) as client:
        sign_ins = [asyncio.create_task(attempt(client, n)) for n in ("ana", "carla", "omar")]

        async def two_checking() -> None:
            while running < 2:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(two_checking(), timeout=60)
        # While the checks block their threads, the loop still serves pages.
        assert (await asyncio.wait_for(client.get("/login"), timeout=60)).status_code == 200
        assert running == 2  # the third waits for a slot
        release.set()
        results = await asyncio.wait_for(asyncio.gather(*sign_ins), timeout=60)
    assert [r.status_code for r in results] == [303, 303, 303] and peak == 2


async def test_secure_cookie_flag_from_the_plant_file(config) -> None:
    secure = config.model_copy(update={"web": WebSettings(secure_cookies=True)})
    for cfg, expect in ((config, False), (secure, True)):
        transport = httpx.ASGITransport(app=create_app(cfg, TableBackend([])))
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as client:
            response = await attempt(client, "ana")
            assert response.status_code == 303
            assert ("; secure" in response.headers["set-cookie"].lower()) is expect
    parsed = parse_config({"site": "pc", "web": {"secure_cookies": True}})
    assert parsed.web.secure_cookies is True


async def test_an_overlong_comment_on_an_attention_answer_is_refused(config) -> None:
    backend = TableBackend([item("stuck", 300, state="attention")])
    async with client_for(create_app(config, backend)) as client:
        csrf = await sign_in(client, "ana")
        api = await client.post(
            "/api/approvals/stuck/retry",
            json={"comment": "x" * 4001},
            headers={"X-CSRF-Token": csrf},
        )
        assert api.status_code == 422 and "4000 characters" in api.text
        page = await client.post(
            "/approvals/stuck/cancel",
            data={"csrf_token": csrf, "comment": "x" * 4001},
            follow_redirects=True,
        )
        assert "4,001 characters; at most 4,000" in page.text
    assert backend.sent == []


async def test_every_time_on_a_page_names_the_one_clock(config) -> None:
    """Issue 13: one clock per deployment, and every timestamp on a page says which one."""
    from orchestrator.clock import DeploymentClock
    from orchestrator.web.models import RunRef, TimelineEntry, WorkflowView

    plant_now = T0 + timedelta(days=7)

    class PlantTimeBackend(TableBackend):
        clock = DeploymentClock.simulated(step_h=1.0, tick_s=0.2, start=plant_now)

        async def workflow(self, workflow_id, run_id=None):
            return WorkflowView(
                id=workflow_id, run_id="r2", kind="part order", status="running",
                runs=(RunRef(run_id="r2", started=T0, status="running"),
                      RunRef(run_id="r1", started=T0 - timedelta(days=1), status="completed")),
                timeline=(TimelineEntry(time=T0, kind="decision", text="order it"),
                          TimelineEntry(time=T0 + timedelta(hours=2), kind="approval", text="approved")),
            )

    backend = PlantTimeBackend([item("po-1", 10, deadline=T0 + timedelta(hours=8))])
    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?!:)")
    async with client_for(create_app(config, backend)) as client:
        await sign_in(client, "ana")
        clock = (await client.get("/api/clock")).json()
        assert clock == {"clock": "plant time", "simulated": True, "now": plant_now.isoformat()}
        for path in ("/approvals", "/workflows/po-1"):
            page = (await client.get(path)).text
            assert 'data-clock="plant time"' in page  # the page names its clock once, up top
            times = list(stamp.finditer(page))
            assert times, f"{path} shows no time"
            for found in times:  # and each time carries the clock's name with it
                after = page[found.end():found.end() + 80]
                assert after.startswith(' <abbr class="clock" title="plant time">plant time</abbr>'), (
                    path, found.group(), after)
            assert "UTC" not in page.replace("plant time", "")  # no second clock on the page

    # A real plant's deployment: wall time, named as such.
    async with client_for(create_app(config, TableBackend([item("po-1", 10)]))) as client:
        await sign_in(client, "ana")
        clock = (await client.get("/api/clock")).json()
        assert clock["clock"] == "UTC" and clock["simulated"] is False
        page = (await client.get("/approvals")).text
        assert f"{T0:%Y-%m-%d %H:%M} <abbr class=\"clock\" title=\"UTC\">UTC</abbr>" in page
