"""The live stack and the browser for the browser tests.

``live``: the whole orchestrator (Temporal dev server, reference partners, Ray, worker, web UI) of
the sample plant, started once per module in this test process on free loopback ports, with a
state directory of its own. Nothing ticks by itself: a test drives the simulated day with
``live.step_until(...)`` so the plant stands still while people click.

``browser``: Debian's ``/usr/bin/chromium`` driven by Playwright's async API in the same event loop
as the stack, so the web server answers while a test waits on the page. Playwright never downloads
a browser here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import expect

from orchestrator.config import PlantConfig, User, load_config
from orchestrator.demo import DEMO_PASSWORD, DEMO_PLANT
from orchestrator.passwords import hash_password
from orchestrator.web.models import ApprovalItem

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
# Playwright's assertions wait 5 s by default: too little for a page on a busy 2-core machine.
# They return as soon as the condition holds, so a generous bound costs nothing when all is well.
expect.set_options(timeout=60_000)
#: A second maintenance lead, so a 1-of-N maintenance approval has two people who may act on it.
SECOND_LEAD = "dana"
log = logging.getLogger(__name__)


def browser_plant(state_dir: Path) -> PlantConfig:
    """The sample plant on free ports, in ``state_dir``, with a second maintenance lead."""
    from orchestrator.temporal import free_port

    config = load_config(DEMO_PLANT)
    dana = User(
        name=SECOND_LEAD,
        display_name="Dana Novak (maintenance lead, night shift)",
        roles=("maintenance_lead",),
        password_hash=hash_password(DEMO_PASSWORD.format(name=SECOND_LEAD)),
    )
    data = config.model_dump()
    data.update(
        state_dir=state_dir,
        users=[*data["users"], dana.model_dump()],
        web={**data["web"], "port": free_port()},
        temporal={**data["temporal"], "port": free_port(), "ui_port": free_port()},
        # Own Ray namespace: actor names never meet another test's fleet in a shared Ray.
        ray={**data["ray"], "namespace": f"autoops-browser-{secrets.token_hex(3)}"},
    )
    return PlantConfig.model_validate(data)


@dataclass
class Live:
    """The running stack and what the tests ask of it."""

    stack: Any
    config: PlantConfig
    url: str
    ticks: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def sim_hours(self) -> float:
        sim = self.stack.orchestrator.sim
        return sim.hours if sim is not None else 0.0

    async def pending(self) -> list[ApprovalItem]:
        from orchestrator.approvals import TemporalApprovals

        return await TemporalApprovals(self.stack.services.client).pending_approvals()

    async def step_until_pending(self, prefix: str, *, max_ticks: int = 220) -> ApprovalItem:
        """Tick the simulated day until an approval whose workflow id starts with ``prefix``
        waits for people; the workflow reaches its gate a moment after it starts."""
        t0 = time.monotonic()
        started = False
        for _ in range(max_ticks):
            if not started:
                result = await self.stack.step()
                self.ticks += 1
                started = any(w.startswith(prefix) for w in result.started) or any(
                    w.startswith(prefix) for w in self.stack.orchestrator.workflows
                )
                if not started:
                    continue
            for _ in range(40):  # bounded: 20 s for the workflow to reach its approval gate
                found = [i for i in await self.pending() if i.id.startswith(prefix)]
                if found:
                    self.timings[f"until {prefix}"] = round(time.monotonic() - t0, 1)
                    return found[0]
                await asyncio.sleep(0.5)
            raise AssertionError(
                f"workflow {prefix}… started but its approval never became pending"
            )
        raise AssertionError(
            f"no approval {prefix}… after {max_ticks} ticks (simulated hour {self.sim_hours:.0f})"
        )

    async def wait_for(
        self, what: str, check: Callable[[], Awaitable[bool]], *, timeout_s: float = 120.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    from orchestrator.process import Stack

    state_dir = tmp_path_factory.mktemp("browser-stack")
    config = browser_plant(state_dir)
    t0 = time.monotonic()
    # Short path: Ray's Unix socket paths are limited to ~107 bytes.
    stack = await Stack.start(config, ray_temp_dir=f"/tmp/autoops-ray-{os.getuid()}")
    live = Live(stack=stack, config=config, url=stack.web_url)
    live.timings["stack start"] = round(time.monotonic() - t0, 1)
    try:
        yield live
    finally:
        # In a Ray the test session shares (tests/conftest.py's ray_session started it first),
        # the stack leaves Ray running: end this fleet's actors so later tests have the cores.
        shared_ray = not stack.services.ray_started
        await stack.stop()
        if shared_ray:
            await asyncio.to_thread(stack.orchestrator.fleet.stop)
        print(f"\nbrowser stack: {live.ticks} ticks, timings {live.timings}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()
