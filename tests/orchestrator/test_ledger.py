"""The loop's ledger of workflows: typed records, the progress file's format, every run kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from orchestrator.ledger import WorkflowLedger, WorkflowRecord
from orchestrator.progress import Progress

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_a_progress_file_written_before_the_ledger_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    path.write_text(
        json.dumps(
            {
                "sim_start": T0.isoformat(), "ticks": 3, "journal": [], "engine": {},
                "workflows": {
                    "maint:pc:mill-1": {
                        "dedup_key": "maint:pc:mill-1:bearing", "decision_id": "d-1",
                        "kind": "schedule_maintenance", "asset_id": "mill-1", "instrument_check": False,
                        "started_at": T0.isoformat(), "twin_done": True,
                    }
                },
                "closed": {"po:pc:BK:1": {"kind": "order_parts", "status": "completed", "workflow_id": "po:pc:BK:1"}},
            }
        )
    )
    progress = Progress.load(path, T0)
    record = progress.workflows.get("maint:pc:mill-1")
    assert record is not None and record.workflow_id == "maint:pc:mill-1" and record.twin_done
    assert progress.workflows.open_keys() == {"maint:pc:mill-1:bearing"}
    assert progress.workflows.find("po:pc:BK:1").status == "completed"


def test_saved_workflows_are_keyed_by_id_and_a_reused_business_key_keeps_every_run(tmp_path: Path) -> None:
    progress = Progress(sim_start=T0)
    ledger = progress.workflows
    for run in range(2):
        ledger.opened(WorkflowRecord(workflow_id="maint:pc:mill-1", kind="schedule_maintenance",
                                     asset_id="mill-1", dedup_key="pc:mill-1:bearing", decision_id=f"d-{run}"))
        assert ledger.open_on("mill-1") == ("maint:pc:mill-1",)
        assert ledger.assets_with_open("schedule_maintenance") == {"mill-1"}
        ledger.close("maint:pc:mill-1", status="completed", at=T0 + timedelta(hours=run))
    assert list(ledger) == [] and ledger.open_on("mill-1") == ()
    assert [r.decision_id for r in ledger.closed.values()] == ["d-0", "d-1"]
    assert list(ledger.closed) == ["maint:pc:mill-1", "maint:pc:mill-1#2"]

    ledger.opened(WorkflowRecord(workflow_id="wo:pc:lathe-1:vibration", kind="create_work_order", started_at=T0))
    progress.save(tmp_path / "progress.json")
    data = json.loads((tmp_path / "progress.json").read_text())
    assert list(data["workflows"]) == ["wo:pc:lathe-1:vibration"]
    assert data["workflows"]["wo:pc:lathe-1:vibration"]["kind"] == "create_work_order"
    again = Progress.load(tmp_path / "progress.json", T0).workflows
    assert isinstance(again, WorkflowLedger) and again.closed["maint:pc:mill-1#2"].closed_at == T0 + timedelta(hours=1)
    assert again.get("wo:pc:lathe-1:vibration").started_at == T0
