"""Alarms on the floor, in a real browser (Debian's chromium): the board shows a new alarm without
reloading (server-sent events), an operator acknowledges one with a comment and shelves another
for an hour with a reason, the audit trail names both with user and time, a viewer has no button
and a forged request is refused, and the board and the inbox fit a phone (390 px) held upright.

The web app here is the real one (pages, API, stream, sign-in, CSRF, the alarm store on disk and
the alarm service the loop uses) in front of an in-memory approvals table instead of Temporal:
alarms are raised exactly as the loop raises them, from health reports. Screenshots go to
reports/screenshots/.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, expect

from agents.models import AssetKind, HealthReport, Indicator, Status
from orchestrator.alarms import FILENAME, AlarmService, AlarmStore
from orchestrator.config import PlantConfig, User, load_config
from orchestrator.demo import DEMO_PASSWORD, DEMO_PLANT
from orchestrator.passwords import hash_password
from orchestrator.temporal import free_port
from orchestrator.web.app import create_app
from orchestrator.web.models import ApprovalItem, AssetTile, Series
from tests.browser.conftest import SCREENSHOTS
from tests.orchestrator.alarms.conftest import Clock
from tests.orchestrator.test_web import TableBackend

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
UI_TIMEOUT_MS = 60_000
expect.set_options(timeout=UI_TIMEOUT_MS)
NOW = datetime.now(UTC).replace(microsecond=0)


def floor_plant(state_dir: Path) -> PlantConfig:
    """The sample plant with a viewer (looks at the board, may not act on alarms)."""
    config = load_config(DEMO_PLANT)
    vic = User(name="vic", display_name="Vic (visitor)", roles=("viewer",),
               password_hash=hash_password(DEMO_PASSWORD.format(name="vic")))
    data = config.model_dump()
    data.update(
        state_dir=state_dir,
        roles={**data["roles"], "viewer": {"approval_limit": 0.0, "can_approve": False}},
        users=[*data["users"], vic.model_dump()],
    )
    return PlantConfig.model_validate(data)


class FloorBackend(TableBackend):
    """Approvals in memory, a few asset tiles."""

    async def board(self) -> list[AssetTile]:
        return [
            AssetTile(asset_id="mill-1", name="Mill 1 (5-axis), main spindle", line="line-a",
                      status="amber", main_indicator="spindle_vel", main_value="5.1 mm/s",
                      summary="vibration above its baseline", last_report_at=NOW),
            AssetTile(asset_id="mill-2", name="Mill 2, main spindle", line="line-a",
                      status="amber", main_indicator="spindle_vel", main_value="4.9 mm/s",
                      last_report_at=NOW),
            AssetTile(asset_id="lathe-1", name="Lathe 1, main spindle", line="line-b",
                      status="green", main_indicator="spindle_vel", main_value="1.2 mm/s",
                      sensor_faults=("bearing_temp flatline",), last_report_at=NOW,
                      open_workflows=("maint:precision-components:lathe-1",)),
        ]


def approvals() -> list[ApprovalItem]:
    series = Series(name="stock", unit="kg", times=tuple(NOW - timedelta(hours=h) for h in range(30, 0, -1)),
                    values=tuple(float(1400 - 40 * i) for i in range(30)), amber_at=600.0, red_at=300.0)
    return [
        ApprovalItem(
            id="po:precision-components:BAR-42CRMO4-40:1", kind="part_order",
            title="PO-2026-000017 for 1,200 kg BAR-42CRMO4-40 from steelco", amount=45_000.0,
            roles=("buyer", "plant_manager"), min_approvers=2, requested_at=NOW, priority="P2",
            policy_id="material-shortage", policy_version="1.4.0",
            decision_id="dec-0123456789abcdef0123456789abcdef", series=series,
            explanation="stock of BAR-42CRMO4-40 covers 31 h at the current demand; lead time 72 h",
            creates="PO-2026-000017 to steelco: 1200 x BAR-42CRMO4-40 (42CrMo4 round bar, 40 mm)",
            deadline=NOW + timedelta(hours=2),
        )
    ]


def amber(asset: str, seq: int) -> HealthReport:
    return HealthReport(
        report_id=f"{asset}:{seq}", asset_id=asset, asset_kind=AssetKind.MACHINE, seq=seq,
        time=datetime.now(UTC), status=Status.AMBER, health_score=0.6,
        indicators=(Indicator(name="spindle_vel", value=5.1, unit="mm/s", amber_at=4.5, red_at=7.1,
                              status=Status.AMBER),),
        summary="spindle vibration 5.1 mm/s above 4.5 (ISO 10816-3 zone C)",
    )


@dataclass
class Floor:
    url: str
    service: AlarmService
    clock: Clock  # the alarm service's clock: shelves expire when the test moves it


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def floor(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Floor]:
    state = tmp_path_factory.mktemp("floor")
    config = floor_plant(state)
    clock = Clock(now=datetime.now(UTC))
    service = AlarmService(AlarmStore(state / FILENAME), config, clock=clock)
    app = create_app(config, FloorBackend(approvals()), alarms=service)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
    try:
        yield Floor(url=f"http://127.0.0.1:{port}", service=service, clock=clock)
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout=30)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        service.store.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


async def sign_in(browser: Browser, floor: Floor, name: str, viewport: dict[str, int] = DESKTOP
                  ) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=floor.url, viewport=viewport)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("User", exact=True).fill(name)
    await page.get_by_label("Password").fill(DEMO_PASSWORD.format(name=name))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{floor.url}/approvals")
    return context, page


def alarm(page: Page, alarm_id: str) -> Any:
    return page.locator(f'#alarms li.alarm[data-id="{alarm_id}"]')


_ids: dict[str, str] = {}


async def test_operator_sees_a_new_alarm_live_acknowledges_and_shelves_it(
    floor: Floor, browser: Browser, shots: Path
) -> None:
    context, page = await sign_in(browser, floor, "omar")
    try:
        await page.goto("/board")
        await expect(page.locator("#alarms .empty")).to_have_text("No alarms.")
        await page.evaluate("window.__sameDocument = true")
        # mill-1 turns amber in the plant: the alarm appears on the open board by itself.
        floor.service.observe_reports([amber("mill-1", 1)])
        first = floor.service.list()[0].id
        entry = alarm(page, first)
        await expect(entry).to_be_visible()
        await expect(entry.locator(".badge")).to_have_text("P2")
        await expect(entry.locator(".state")).to_have_text("active, unacknowledged")
        await expect(entry.locator(".place")).to_contain_text("line-a")
        assert await page.evaluate("window.__sameDocument === true"), "the board was reloaded"
        # Acknowledge with a comment.
        await entry.get_by_label("acknowledge comment").fill("on my way, checking the coolant")
        await entry.get_by_role("button", name="Acknowledge").click()
        await expect(page.locator("#result")).to_have_text(f"{first} acknowledged")
        await expect(alarm(page, first).locator(".state")).to_have_text("active, acknowledged")
        # A second amber alarm arrives live; shelve it for one hour with a reason.
        await page.evaluate("window.__sameDocument = true")
        floor.service.observe_reports([amber("mill-2", 1)])
        second = next(a.id for a in floor.service.list() if a.asset_id == "mill-2")
        entry = alarm(page, second)
        await expect(entry).to_be_visible()
        assert await page.evaluate("window.__sameDocument === true"), "the board was reloaded"
        await entry.get_by_label("shelve for").select_option("1h")
        await entry.get_by_label("shelve reason").fill("tool change on mill 2, vibration expected")
        await entry.get_by_role("button", name="Shelve").click()
        await expect(page.locator("#result")).to_have_text(f"{second} shelved")
        await expect(alarm(page, second).locator(".shelved-note")).to_contain_text(
            "Shelved by omar until")
        _ids.update(first=first, second=second)
        # The asset under an open maintenance job: its alarm is shown, marked suppressed.
        floor.service.observe_reports(
            [amber("lathe-1", 1)], suppressed={"lathe-1": "maintenance maint:precision-components:lathe-1"})
        suppressed = next(a.id for a in floor.service.list() if a.asset_id == "lathe-1")
        await expect(alarm(page, suppressed).locator(".suppressed-note")).to_have_text(
            "Suppressed by design: maintenance maint:precision-components:lathe-1")
        # The audit trail: who did what, when, with the comment.
        await page.goto("/alarms")
        await page.screenshot(path=str(shots / "alarms-shelved.png"), full_page=True)
        when = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")
        for alarm_id, what, comment in (
            (first, "acknowledge", "on my way, checking the coolant"),
            (second, "shelve", "tool change on mill 2, vibration expected"),
        ):
            entry = alarm(page, alarm_id)
            await entry.locator("details.history summary").click()
            row = entry.locator("details.history li").filter(
                has=page.locator(".what", has_text=re.compile(f"^{what}$")))
            await expect(row.locator(".who")).to_have_text("omar")
            await expect(row.locator(".comment")).to_have_text(comment)
            await expect(row.locator("time")).to_have_text(when)
        await page.screenshot(path=str(shots / "alarms-audit-trail.png"), full_page=True)
        shelf = floor.service.get(second).shelved
        assert shelf is not None and shelf.until is not None
        assert shelf.until - shelf.at == timedelta(hours=1)
        # An hour later (the service's clock moves, not the test's wall time) the shelved alarm
        # is back in front of the operator by itself, on the open page, with the expiry recorded.
        await page.evaluate("window.__sameDocument = true")
        floor.clock.advance(minutes=61)
        entry = alarm(page, second)
        await expect(entry.locator(".shelved-note")).to_have_count(0)
        await expect(entry.get_by_role("button", name="Shelve")).to_be_visible()
        assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        history = floor.service.get(second).history
        assert [(h.user, h.action.value) for h in history] == [
            ("autoops", "raised"), ("omar", "shelve"), ("autoops", "shelve_expired")]
    finally:
        await context.close()


async def test_viewer_has_no_button_and_a_forged_request_is_refused(
    floor: Floor, browser: Browser
) -> None:
    if not _ids:
        floor.service.observe_reports([amber("mill-1", 1), amber("mill-2", 1)])
        _ids.update(first=floor.service.list()[0].id)
    target = next(a.id for a in floor.service.list() if a.unacked or a.shelved)
    context, page = await sign_in(browser, floor, "vic")
    try:
        await page.goto("/board")
        await expect(alarm(page, _ids["first"])).to_be_visible()
        assert await page.locator("#alarms form").count() == 0
        assert await page.get_by_role("button", name="Acknowledge").count() == 0
        assert await page.get_by_role("button", name="Shelve").count() == 0
        csrf = await page.locator("form.signout input[name=csrf_token]").input_value()
        before = floor.service.get(target)
        forged = await page.request.post(f"/api/alarms/{target}/ack", data={"comment": "x"},
                                         headers={"X-CSRF-Token": csrf})
        assert forged.status == 403 and "not act on them" in (await forged.json())["message"]
        form = await page.request.post(f"/alarms/{target}/unshelve",
                                       form={"csrf_token": csrf, "comment": "x"}, max_redirects=0)
        assert form.status == 303 and "ok=0" in form.headers["location"]
        no_csrf = await page.request.post(f"/api/alarms/{target}/ack", data={})
        assert no_csrf.status == 403
        after = floor.service.get(target)
        assert (after.state, after.shelved, after.history) == (before.state, before.shelved, before.history)
    finally:
        await context.close()


async def test_board_and_inbox_fit_a_phone(floor: Floor, browser: Browser, shots: Path) -> None:
    if not floor.service.list():
        floor.service.observe_reports([amber("mill-1", 1), amber("mill-2", 1)])
    context, page = await sign_in(browser, floor, "omar", viewport=PHONE)
    try:
        for path, shot in (("/board", "board-390.png"), ("/approvals", "inbox-390.png"),
                           ("/alarms", "alarms-390.png")):
            await page.goto(path)
            if path == "/board":
                await expect(page.locator("#alarms li.alarm").first).to_be_visible()
                await expect(page.locator("section.tile").first).to_be_visible()
            if path == "/approvals":
                await expect(page.locator("li.approval").first).to_be_visible()
                await expect(page.locator("svg.plot")).to_be_visible()
            widths = await page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1], f"{path} scrolls sideways at 390 px: {widths}"
            await page.screenshot(path=str(shots / shot), full_page=True)
    finally:
        await context.close()
