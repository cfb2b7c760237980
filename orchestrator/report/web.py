"""The archived shift reports in the web UI: a list, each report as its page, and as JSON.

Signed-in users only (the web UI's own ``signed_in`` dependency). Reads the history store the
loop writes to; rendering a page is matplotlib work, done off the event loop.
"""

from __future__ import annotations

import asyncio
import html
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse

from orchestrator.history import schema
from orchestrator.history.store import HistoryStore
from orchestrator.web.app import signed_in


def create_report_router(store: HistoryStore) -> APIRouter:
    router = APIRouter(dependencies=[Depends(signed_in)])

    def archived(key: str) -> dict[str, Any]:
        report = store.report(key)
        if report is None:
            raise HTTPException(status_code=404, detail=f"no report of shift {key!r} archived yet")
        return report

    @router.get("/reports/shift", response_class=HTMLResponse, include_in_schema=False)
    async def report_list() -> HTMLResponse:
        rows = await asyncio.to_thread(
            store.rows, schema.shift_reports, order_by=[schema.shift_reports.c.shift_key.desc()]
        )
        items = "".join(
            f'<li><a href="/reports/shift/{quote(r["shift_key"])}">{html.escape(r["shift_key"])}</a>'
            f' (OEE {_plant_oee(r["report"])})</li>'
            for r in rows
        )
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shift reports</title>"
            "</head><body><h1>Shift reports</h1>"
            f"<ul>{items or '<li>none yet: a report is archived at the end of each shift</li>'}</ul>"
            "</body></html>"
        )

    @router.get("/reports/shift/{key}", response_class=HTMLResponse, include_in_schema=False)
    async def report_page(key: str) -> HTMLResponse:
        from orchestrator.report.html import render_html

        report = await asyncio.to_thread(archived, key)
        return HTMLResponse(await asyncio.to_thread(render_html, report, store))

    @router.get("/api/reports/shift/{key}", tags=["reports"])
    async def report_json(key: str) -> dict[str, Any]:
        """An archived end-of-shift report (the same object as `autoops report shift --json`)."""
        return await asyncio.to_thread(archived, key)

    return router


def _plant_oee(report: dict[str, Any]) -> str:
    lines = report.get("lines") or {}
    produced = sum(v.get("planned_busy_h") or 0 for v in lines.values())
    if not produced:
        return "-"
    weighted = sum((v.get("oee") or 0) * (v.get("planned_busy_h") or 0) for v in lines.values())
    return f"{weighted / produced:.1%}"
