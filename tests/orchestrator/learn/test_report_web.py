"""Archived shift reports in the web UI: list, page with plots, JSON; signed-in users only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI

from orchestrator.report.clock import archive_ended_shifts
from orchestrator.report.web import create_report_router
from orchestrator.web.app import signed_in
from tests.orchestrator.learn.plant_history import T0, sample_plant_history


async def test_archived_reports_are_pages_and_json(tmp_path: Path) -> None:
    recorder = sample_plant_history(tmp_path, days=1)
    try:
        keys = archive_ended_shifts(recorder, recorder.schedule, T0, T0 + timedelta(days=1))
        assert keys == ["2026-05-04:early shift", "2026-05-04:late shift"]
        router = create_report_router(recorder.store)
        assert [d.dependency for d in router.dependencies] == [signed_in]  # signed-in users only
        app = FastAPI()
        app.include_router(router)
        app.dependency_overrides[signed_in] = lambda: "ana"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as web:
            listing = await web.get("/reports/shift")
            assert listing.status_code == 200 and "2026-05-04:late shift" in listing.text
            page = await web.get("/reports/shift/2026-05-04:late shift")
            assert page.status_code == 200 and page.text.count("<svg") >= 3
            data = (await web.get("/api/reports/shift/2026-05-04:early shift")).json()
            assert data["shift"]["key"] == "2026-05-04:early shift" and "mill-1" in data["machines"]
            assert (await web.get("/api/reports/shift/2026-05-05:early shift")).status_code == 404
    finally:
        recorder.store.close()
