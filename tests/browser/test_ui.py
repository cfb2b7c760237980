"""The approvers' and operators' web UI in a real browser (Debian's chromium) against the real
stack: Temporal dev server, reference partners, Ray fleet, worker and web UI of the sample plant.

The simulated day is driven tick by tick: at ~65 h the bar-stock shortage asks a buyer and the
plant manager for a part order (2 approvers); at ~124 h mill 1's bearing wear asks one maintenance
lead (ana or the second lead, dana) for a maintenance job. Screenshots go to reports/screenshots/.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote, unquote

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from orchestrator.demo import DEMO_PASSWORD
from orchestrator.web.models import ApprovalItem
from tests.browser.conftest import SCREENSHOTS, SECOND_LEAD, Live

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="session"),
]

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}  # a 10-11" tablet held upright on the shop floor
AUDIT = "autoops.audit"
#: Generous waits: in CI the whole suite shares two cores with Temporal, Ray and the browser.
UI_TIMEOUT_MS = 60_000  # generous: a busy CI box renders slowly; passing tests never wait it out
expect.set_options(timeout=UI_TIMEOUT_MS)


async def sign_in(
    browser: Browser, live: Live, name: str, *, js: bool = True, viewport: dict[str, int] = DESKTOP
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        base_url=live.url, java_script_enabled=js, viewport=viewport
    )
    context.requested = []  # type: ignore[attr-defined]
    context.on("request", lambda r: context.requested.append(r.url))  # type: ignore[attr-defined]
    context.console = []  # type: ignore[attr-defined]
    context.on("console", lambda m: context.console.append(f"{m.type}: {m.text}"))  # type: ignore[attr-defined]
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("User", exact=True).fill(name)
    await page.get_by_label("Password").fill(DEMO_PASSWORD.format(name=name))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{live.url}/approvals")
    return context, page


def card(page: Page, item_id: str) -> Any:
    return page.locator(f'li.approval[data-id="{item_id}"]')


async def csrf_of(page: Page) -> str:
    """The signed-in person's own CSRF token, as every form of the page carries it."""
    return await page.locator("form.signout input[name=csrf_token]").input_value()


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == AUDIT]


@pytest.fixture(scope="module")
def shots() -> Any:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(autouse=True)
def _audit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT)


# The part order is the first approval of the day; later tests approve it.
_state: dict[str, ApprovalItem] = {}


async def part_order(live: Live) -> ApprovalItem:
    if "po" not in _state:
        _state["po"] = await live.step_until_pending(f"po:{live.config.site}:BAR-42CRMO4-40:")
    return _state["po"]


async def maintenance(live: Live) -> ApprovalItem:
    """Mill 1's bearing job (~124 h); the plant gets there past the part order."""
    await part_order(live)
    if "maint" not in _state:
        _state["maint"] = await live.step_until_pending(f"maint:{live.config.site}:mill-1")
    return _state["maint"]


async def _kit_orders(live: Live) -> list[str]:
    """Part orders of the bearing kit (children of the maintenance job) started so far."""
    client = live.stack.services.client
    prefix = f"po:{live.config.site}:BK-6205:"
    return [wf.id async for wf in client.list_workflows("WorkflowType = 'PartOrder'") if wf.id.startswith(prefix)]


async def test_approver_sees_the_part_order_with_its_evidence_plot(
    live: Live, browser: Browser, shots: Any
) -> None:
    item = await part_order(live)
    context, page = await sign_in(browser, live, "carla")
    try:
        entry = card(page, item.id)
        await expect(entry).to_be_visible()
        # The title in words, the PO number in what it creates.
        await expect(entry.locator("h2")).to_contain_text(re.compile(r"^Order [\d,]+ × 42CrMo4 .* from steelco — "))
        await expect(entry).to_contain_text("PO-")
        await expect(entry.locator(".amount")).to_have_text(f"{item.amount:,.2f} EUR")
        await expect(entry).to_contain_text("material-shortage v")
        await expect(entry).to_contain_text("steelco")  # the supplier the order will go to
        await expect(entry).to_contain_text("2 of: ")  # buyer and plant manager both sign
        # The evidence plot: the stock indicator over time, with its threshold lines.
        plot = entry.locator("svg.plot")
        await expect(plot).to_be_visible()
        points = (await plot.locator("polyline.line").get_attribute("points") or "").split()
        assert len(points) >= 20, f"the plot shows only {len(points)} points of history"
        assert await plot.locator("line.thr").count() >= 1, "the plot has no threshold line"
        box = await plot.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, box
        await expect(entry.get_by_role("button", name="Approve")).to_be_visible()
        await expect(entry.get_by_role("button", name="Reject")).to_be_visible()
        await page.screenshot(path=str(shots / "inbox.png"), full_page=True)
        # Only the page's own script, from this server: no framework, nothing from elsewhere.
        requested = context.requested  # type: ignore[attr-defined]
        assert all(u.startswith(live.url) for u in requested), requested
        scripts = [u for u in requested if u.endswith(".js")]
        assert scripts == [f"{live.url}/static/inbox.js"], scripts
    finally:
        await context.close()


async def test_viewer_sees_the_approval_but_cannot_approve(
    live: Live, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    item = await part_order(live)
    context, page = await sign_in(browser, live, "omar")
    try:
        entry = card(page, item.id)
        await expect(entry).to_be_visible()
        await expect(entry.locator("svg.plot")).to_be_visible()
        await expect(entry.get_by_role("button")).to_have_count(0)
        await expect(entry.locator(".why")).to_contain_text("may not approve this")
        # A forged form POST with his own valid session and CSRF token: refused, nothing sent.
        token = await csrf_of(page)
        forged = await page.request.post(
            f"/approvals/{quote(item.id)}/approve",
            form={"csrf_token": token, "comment": "forged"},
            max_redirects=0,
        )
        assert forged.status == 303
        location = unquote(forged.headers["location"].replace("+", " "))
        assert "ok=0" in location and "may not approve" in location, location
        # The browser shows the refusal as the form would have shown it.
        await page.goto(forged.headers["location"])
        await expect(page.locator("#result.bad")).to_contain_text("operator")
        # The JSON API refuses the same vote with 403.
        api = await page.request.post(
            f"/api/approvals/{quote(item.id, safe='')}/approve",
            data={"comment": "forged"},
            headers={"X-CSRF-Token": token},
        )
        assert api.status == 403, await api.text()
        assert (await api.json())["ok"] is False
        still = next(i for i in await live.pending() if i.id == item.id)
        assert still.votes == () and still.state == "pending"
        refusals = [m for m in audit_lines(caplog) if m.startswith("vote refused: user=omar")]
        assert len(refusals) == 2 and all(item.id in m and "may not approve" in m for m in refusals)
    finally:
        await context.close()


async def test_post_without_csrf_token_is_refused(
    live: Live, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    item = await part_order(live)
    context, page = await sign_in(browser, live, "carla")
    other, other_page = await sign_in(browser, live, "ben")
    try:
        no_token = await page.request.post(
            f"/approvals/{quote(item.id)}/approve", form={"comment": "ok"}, max_redirects=0
        )
        assert no_token.status == 403
        assert "CSRF" in (await no_token.json())["detail"]
        # Someone else's token does not fit this session either.
        wrong = await page.request.post(
            f"/approvals/{quote(item.id)}/approve",
            form={"csrf_token": await csrf_of(other_page), "comment": "ok"},
            max_redirects=0,
        )
        assert wrong.status == 403
        api = await page.request.post(
            f"/api/approvals/{quote(item.id, safe='')}/approve", data={"comment": "ok"}
        )
        assert api.status == 403
        # Through the page itself: a rejection without a comment is refused, and she is told why.
        await card(page, item.id).get_by_role("button", name="Reject").click()
        await expect(page.locator("#result.bad")).to_contain_text("a rejection needs a comment")
        still = next(i for i in await live.pending() if i.id == item.id)
        assert still.votes == (), "a refused vote reached the workflow"
        refused = [m for m in audit_lines(caplog) if "CSRF" in m and "user=carla" in m]
        assert len(refused) == 3, audit_lines(caplog)
        assert any(
            m.startswith("vote refused: user=carla") and "needs a comment" in m
            for m in audit_lines(caplog)
        )
    finally:
        await context.close()
        await other.close()


async def test_enter_in_the_comment_records_no_vote_and_approve_asks_first(
    live: Live, browser: Browser
) -> None:
    item = await part_order(live)
    context, page = await sign_in(browser, live, "carla")
    asked: list[str] = []

    async def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    try:
        entry = card(page, item.id)
        comment = entry.get_by_label("comment")
        await comment.fill("not sure about the price")
        await comment.press("Enter")  # a person typing a doubt, then a new line
        await comment.press_sequentially("ask steelco first")
        await expect(comment).to_have_value("not sure about the price\nask steelco first")
        await page.wait_for_load_state()
        assert asked == [], f"Enter in the comment field tried to approve: {asked}"
        await expect(page.locator("#result")).to_have_count(0)  # no form was sent
        await expect(page).to_have_url(f"{live.url}/approvals")

        # Approve asks once, saying what will happen; saying no sends nothing either.
        await entry.get_by_role("button", name="Approve").click()
        await live.wait_for("the confirmation", _true_when(lambda: bool(asked)), timeout_s=30)
        assert f"{item.amount:,.2f} EUR" in asked[0], asked[0]
        assert item.creates and f"This creates: {item.creates}" in asked[0], asked[0]
        await expect(page.locator("#result")).to_have_count(0)
        await page.reload()
        await expect(card(page, item.id).locator(".votes")).to_have_text("nobody yet")
        pending = [i for i in await live.pending() if i.id == item.id]
        assert pending and pending[0].votes == (), pending
    finally:
        await context.close()


def _true_when(check: Any) -> Any:
    async def probe() -> bool:
        return bool(check())

    return probe


async def test_approvers_approve_and_the_order_completes(
    live: Live, browser: Browser, shots: Any
) -> None:
    item = await part_order(live)
    # The plant manager signs with JavaScript off: the pages need none to act.
    ben, ben_page = await sign_in(browser, live, "ben", js=False)
    carla, carla_page = await sign_in(browser, live, "carla")
    try:
        entry = card(ben_page, item.id)
        await entry.get_by_label("comment").fill("bar stock for line B, checked with planning")
        await entry.get_by_role("button", name="Approve").click()
        await expect(ben_page.locator("#result.good")).to_contain_text("1 of 2 approvals")
        await expect(card(ben_page, item.id).locator(".votes")).to_contain_text(
            "ben (plant_manager)"
        )
        # Having voted, he has nothing left to do on it.
        await expect(card(ben_page, item.id).get_by_role("button")).to_have_count(0)

        await carla_page.reload()
        entry = card(carla_page, item.id)
        await expect(entry.locator(".votes")).to_contain_text("ben (plant_manager)")
        await entry.get_by_label("comment").fill("price as agreed with steelco")
        asked: list[str] = []

        async def accept(dialog: Any) -> None:
            asked.append(dialog.message)
            await dialog.accept()

        carla_page.on("dialog", accept)
        await entry.get_by_role("button", name="Approve").click()
        await expect(carla_page.locator("#result.good")).to_be_visible()
        await expect(card(carla_page, item.id)).to_have_count(0)
        assert len(asked) == 1 and f"{item.amount:,.2f} EUR" in asked[0], asked

        # The workflow page: the order goes out, the supplier confirms and ships, stock receives.
        await carla_page.goto(f"/workflows/{item.id}")

        async def completed() -> bool:
            await carla_page.reload()
            return "Status: completed" in await carla_page.locator("main").inner_text()

        await live.wait_for(f"{item.id} to complete", completed, timeout_s=120)
        timeline = carla_page.locator("ol.timeline")
        # It reads top-down: the decision that asked for the order, then what followed.
        await expect(timeline.locator("li").first).to_contain_text("material-shortage v")
        await expect(timeline.locator("li").last).to_contain_text("completed")
        await expect(timeline).to_contain_text("ben (plant_manager)")
        await expect(timeline).to_contain_text("carla (buyer)")
        await expect(timeline).to_contain_text("price as agreed with steelco")
        await expect(timeline).to_contain_text("place_order")
        await expect(timeline).to_contain_text("supplier_shipped")
        link = carla_page.get_by_role("link", name="Open in Temporal Web UI")
        assert quote(item.id, safe="") in (await link.get_attribute("href") or "")
        await carla_page.screenshot(path=str(shots / "workflow.png"), full_page=True)
    finally:
        await ben.close()
        await carla.close()


async def test_second_approver_sees_the_item_disappear_without_reload(
    live: Live, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    item = await maintenance(live)
    assert item.min_approvers == 1 and "maintenance_lead" in item.roles
    # The card asks for the job's full cost: the bearing kit it must order is in the amount, and
    # nothing is ordered before somebody approves.
    assert item.amount > 0 and "after approval, a part order for 1 × BK-6205" in item.creates, item
    assert await _kit_orders(live) == []
    ana, ana_page = await sign_in(browser, live, "ana")
    dana, dana_page = await sign_in(browser, live, SECOND_LEAD)
    try:
        for page in (ana_page, dana_page):
            await expect(card(page, item.id).get_by_role("button", name="Approve")).to_be_visible()
        await expect(card(ana_page, item.id).locator(".amount")).to_have_text(f"{item.amount:,.2f} EUR")
        await dana_page.evaluate("window.__sameDocument = true")
        entry = card(ana_page, item.id)
        await entry.get_by_label("comment").fill("night window is fine, kit is on the shelf")

        async def accept(dialog: Any) -> None:  # approving asks once
            await dialog.accept()

        ana_page.on("dialog", accept)
        await entry.get_by_role("button", name="Approve").click()
        await expect(ana_page.locator("#result.good")).to_be_visible()
        # Dana's page drops the item by itself (the inbox polls /api/approvals every 2 s).
        await expect(card(dana_page, item.id)).to_have_count(0, timeout=60_000)
        assert await dana_page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        shown = await dana_page.locator("li.approval").count()
        await expect(dana_page.locator("#count")).to_have_text(re.compile(rf"^{shown} pending"))
        if shown == 0:
            await expect(dana_page.locator("#empty")).to_have_text("Nothing waits for approval.")
        # Had she clicked a moment later, the server would have said it is gone.
        late = await dana_page.request.post(
            f"/api/approvals/{quote(item.id, safe='')}/approve",
            data={"comment": "late"},
            headers={"X-CSRF-Token": await csrf_of(dana_page)},
        )
        assert late.status == 403 and (await late.json())["state"] in ("gone", "approved")
        assert any(f"signed in: user={SECOND_LEAD}" in m for m in audit_lines(caplog))

        async def kit_ordered() -> bool:
            return bool(await _kit_orders(live))

        await live.wait_for("the kit's part order after the approval", kit_ordered, timeout_s=120)
    finally:
        await ana.close()
        await dana.close()


async def test_an_asset_page_shows_its_health_over_days_and_what_is_planned_on_it(
    live: Live, browser: Browser, shots: Any
) -> None:
    item = await maintenance(live)
    context, page = await sign_in(browser, live, "omar", viewport={"width": 390, "height": 844})
    try:
        await page.goto("/board")
        await page.locator('section.tile[data-id="mill-1"] h2 a').click()
        await expect(page).to_have_url(re.compile(r"/assets/mill-1$"))
        # Its health over the stored days: plotted indicators with many points each.
        plot = page.locator("figure.history svg.plot").first
        await expect(plot).to_be_visible()
        points = (await plot.locator("polyline.line").get_attribute("points") or "").split()
        assert len(points) >= 20, f"only {len(points)} points of history"
        # What is planned on it and what is open: the MES's next stops, the bearing job.
        await expect(page.locator("ul.stops li").first).to_contain_text("–")
        await expect(page.locator("ul.open")).to_contain_text(item.id)
        widths = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"the asset page scrolls sideways at 390 px: {widths}"
        await page.screenshot(path=str(shots / "asset-390.png"), full_page=True)
    finally:
        await context.close()


async def test_asset_board_is_readable_on_a_tablet(
    live: Live, browser: Browser, shots: Any
) -> None:
    await maintenance(live)
    context, page = await sign_in(browser, live, "omar", viewport=TABLET)
    try:
        await page.goto("/board")
        tiles = page.locator("section.tile")
        await expect(tiles.first).to_be_visible()
        count = await tiles.count()
        assert count >= 7, f"only {count} assets on the board"
        colors = {
            "green": "rgb(27, 127, 59)",
            "amber": "rgb(199, 119, 0)",
            "red": "rgb(179, 38, 30)",
        }
        seen = set()
        for index in range(count):
            tile = tiles.nth(index)
            # Status, size and border read in one go from one attached tile: the live board may
            # replace a tile between two reads (a detached node has no computed style).
            for _ in range(20):
                connected, status, size, border = await tile.evaluate(
                    "e => { const s = e.querySelector('.status'); return [e.isConnected,"
                    " s.innerText.trim().toLowerCase(), parseFloat(getComputedStyle(s).fontSize),"
                    " getComputedStyle(e).borderTopColor]; }"
                )
                if connected:
                    break
            assert connected, f"tile {index} kept being replaced"
            assert status in (*colors, "unknown"), status
            seen.add(status)
            assert size >= 24, f"status text {size}px is too small for a tablet"
            if status in colors:
                assert border == colors[status], (status, border)
        assert {"green", "amber"} <= seen, seen
        # Problems first: the amber and red tiles lead the board.
        order = [
            (await tiles.nth(i).locator(".status").inner_text()).strip().lower()
            for i in range(count)
        ]
        ranks = [{"red": 0, "amber": 1, "unknown": 2, "green": 3}[s] for s in order]
        assert ranks == sorted(ranks), order
        mill = page.locator('section.tile[data-id="mill-1"]')
        await expect(mill.locator(".status")).to_have_text(re.compile("AMBER|RED"))
        # A sensor fault (lathe 1's flatlined bearing_temp, until its instrument check is done)
        # stands out in bold amber: check the instrument, not the machine.
        for fault in await page.locator("section.tile .faults").all():
            style = await fault.evaluate(
                "e => [getComputedStyle(e).color, getComputedStyle(e).fontWeight]"
            )
            assert style == [colors["amber"], "700"], style
        # Tiles fit the tablet's width: no sideways scrolling on the shop floor.
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the board is {overflow}px wider than the tablet"
        await page.screenshot(path=str(shots / "board.png"), full_page=True)
        # The board keeps itself current without reloading the page: the plant moves on two
        # hours and mill 1's tile shows the newer report while the page stays the same document.
        await page.evaluate("window.__sameDocument = true")
        before = await mill.locator(".muted").inner_text()
        for _ in range(2):
            await live.stack.step()
            live.ticks += 1
        await expect(mill.locator(".muted")).not_to_have_text(before, timeout=60_000)
        assert await page.evaluate("window.__sameDocument === true"), "the board was reloaded"
        requested = context.requested  # type: ignore[attr-defined]
        assert all(u.startswith(live.url) for u in requested), requested
    finally:
        await context.close()


async def test_pages_run_only_their_own_script(live: Live, browser: Browser) -> None:
    item = await part_order(live)
    context, page = await sign_in(browser, live, "carla")
    try:
        for path in ("/approvals", "/board", "/decisions", f"/workflows/{item.id}", "/login"):
            response = await page.goto(path)
            assert response is not None and response.ok, path
            csp = response.headers.get("content-security-policy", "")
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
            assert await page.locator("script:not([src])").count() == 0, f"inline script on {path}"
        # Injected inline script does not run: the policy blocks it.
        try:
            await page.add_script_tag(content="window.__injected = true")
        except Exception:  # noqa: BLE001  Playwright reports the blocked script as an error
            pass
        assert await page.evaluate("window.__injected === undefined")
        requested = context.requested  # type: ignore[attr-defined]
        assert all(u.startswith(live.url) for u in requested), requested
        scripts = {u.removeprefix(live.url) for u in requested if u.endswith(".js")}
        assert scripts == {"/static/inbox.js", "/static/board.js"}, scripts
        # The pages themselves break no rule of the policy and log no error.
        errors = [m for m in context.console if m.startswith("error")]  # type: ignore[attr-defined]
        assert all("__injected" in m or "inline script" in m for m in errors), errors
        # The API is described by its schema; no docs page that pulls JavaScript from a CDN.
        assert (await page.request.get("/openapi.json")).ok
        assert (await page.request.get("/docs")).status == 404
    finally:
        await context.close()


async def test_no_secret_in_pages_and_ui_on_loopback(
    live: Live, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    context = await browser.new_context(base_url=live.url)
    page = await context.new_page()
    try:
        await page.goto("/login")
        await page.get_by_label("User", exact=True).fill("ben")
        await page.get_by_label("Password").fill("not-his-password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator(".flash.bad")).to_have_text("unknown user or wrong password")
        refusals = [line for line in audit_lines(caplog) if line.startswith("sign-in refused: user=ben ")]
        assert refusals and "not-his-password" not in " ".join(refusals)
        assert "not-his-password" not in await page.content()
        context_ok, signed = await sign_in(browser, live, "ben")
        cookies = {c["name"]: c for c in await context_ok.cookies()}
        session = cookies["autoops_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        secrets = [session["value"], (live.stack.state_dir / "callback.secret").read_text().strip()]
        secrets += [u.password_hash.split("$")[-1] for u in live.config.users]
        for path in (
            "/approvals",
            "/board",
            "/decisions",
            "/api/approvals",
            "/api/board",
            "/openapi.json",
        ):
            text = await (await signed.request.get(path)).text()
            leaked = [s[:6] + "…" for s in secrets if s in text]
            assert not leaked, f"{path} shows a secret: {leaked}"
        await context_ok.close()
        hosts = {s.getsockname()[0] for srv in live.stack._server.servers for s in srv.sockets}
        assert hosts == {"127.0.0.1"}, hosts
    finally:
        await context.close()
