"""The end-of-shift report as a person opens it: `autoops report shift --html`, in Chromium.

The history is two simulated days of the sample plant written by the recorder (the demo's own
run is exercised in tests/orchestrator/test_demo.py); the command reads only the state dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.orchestrator.learn.plant_history import sample_plant_history

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
AUTOOPS = Path(sys.executable).parent / "autoops"


def _autoops(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOOPS_STATE_DIR": str(state_dir)}
    return subprocess.run([str(AUTOOPS), *args], env=env, capture_output=True, text=True, timeout=120)


async def test_report_page_shows_plots_in_chromium(browser: Any, tmp_path: Path) -> None:
    sample_plant_history(tmp_path).store.close()
    page_path = tmp_path / "shift.html"
    done = _autoops(tmp_path, "report", "shift", "--json", "--html", str(page_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["shift"]["key"] == "2026-05-05:late shift"  # the last completed shift
    page = await browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        await page.goto(page_path.as_uri())
        assert "late shift" in await page.title()
        plots = page.locator("figure.plot svg")
        assert await plots.count() >= 3
        for i in range(await plots.count()):
            box = await plots.nth(i).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100  # drawn, not empty
        assert await page.locator("table").first.locator("tbody tr").count() == 5  # the 5 machines
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "shift-report.png"), full_page=True)
    finally:
        await page.close()
