"""The state directory's history (``PlantHistory``) and the report archive the clock writes to.

``write_shift_report``: the report of one shift, written once: the HTML page under
``state_dir/reports/`` and the JSON in the history store's ``shift_reports`` table, keyed by the
shift; a second call for the same shift (a retried activity, a repeated run) writes nothing.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from agents.errors import ConfigError
from orchestrator.history import HistoryStore
from orchestrator.kpi.iso22400 import ShiftWindow
from workflows.shift_report.models import ShiftReportRequest, ShiftReportResult


class PlantHistory:
    """The history of the plant whose loop wrote ``state_dir`` (site, calendar, store, watchers)."""

    def __init__(self, state_dir: Path | None) -> None:
        from orchestrator.config import Schedule
        from orchestrator.history.recorder import PLANT_FILE
        from policies.store import state_dir as resolve

        self.state_dir = resolve(state_dir).resolve()
        path = self.state_dir / PLANT_FILE
        if not path.exists():
            raise ConfigError(
                f"{path}: no history here; run the plant (autoops demo / autoops run) with this "
                "state directory first, or pass --state-dir / AUTOOPS_STATE_DIR"
            )
        doc = json.loads(path.read_text())
        self.site: str = doc["site"]
        self.schedule = Schedule.model_validate(doc["schedule"])
        self.watchers: dict[str, list[tuple[str, str]]] = {
            a: [(str(w[0]), str(w[1])) for w in ws] for a, ws in doc.get("watchers", {}).items()
        }
        self.store = HistoryStore.for_state_dir(self.state_dir, doc.get("history_url"))

    def now(self) -> datetime:
        """The plant's time as far as the history knows (a simulated plant runs ahead)."""
        return self.store.latest_time() or datetime.now(UTC)

    def close(self) -> None:
        self.store.close()


def _write(plant: PlantHistory, request: ShiftReportRequest, now: datetime) -> ShiftReportResult:
    from orchestrator.report.html import render_html
    from orchestrator.report.shift import build_shift_report

    page = plant.state_dir / "reports" / f"{request.shift_key.replace(':', '_').replace(' ', '-')}.html"
    if plant.store.report(request.shift_key) is not None:
        return ShiftReportResult(shift_key=request.shift_key, written=False, location=str(page))
    window = ShiftWindow(request.shift, date.fromisoformat(request.day), request.start, request.end)
    report: dict[str, Any] = build_shift_report(plant.store, plant, window, watchers=plant.watchers)
    page.parent.mkdir(parents=True, exist_ok=True)
    tmp = page.with_suffix(".tmp")
    tmp.write_text(render_html(report, plant.store), encoding="utf-8")
    tmp.replace(page)  # the page first: a crash before the row leaves a page the retry rewrites
    written = plant.store.save_report(request.shift_key, plant.site, report, now)
    return ShiftReportResult(shift_key=request.shift_key, written=written, location=str(page))


def report_writer(state_dir: Path) -> Any:
    """The clock activity's writer for one state directory."""

    async def write(request: ShiftReportRequest) -> ShiftReportResult:
        def run() -> ShiftReportResult:
            plant = PlantHistory(state_dir)
            try:
                return _write(plant, request, datetime.now(UTC))
            finally:
                plant.close()

        return await asyncio.to_thread(run)

    return write
