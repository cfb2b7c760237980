"""A state directory with two simulated days of the sample plant's history, without the stack:
the recorder as the loop drives it, a bearing job the technician confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agents.models import AssetKind, HealthReport, Status
from orchestrator.config import load_config
from orchestrator.demo import DEMO_PLANT
from orchestrator.history.recorder import HistoryRecorder, recorder_for

T0 = datetime(2026, 5, 4, 0, tzinfo=UTC)


def report(asset: str, at: datetime, status: Status, score: float) -> HealthReport:
    seq = int(at.timestamp())
    return HealthReport(
        report_id=HealthReport.make_id(asset, seq), seq=seq, asset_id=asset, asset_kind=AssetKind.MACHINE, time=at, status=status,
        health_score=score, summary=f"{asset} {status.value}",
    )


def sample_plant_history(state_dir: Path, days: int = 2) -> HistoryRecorder:
    config = load_config(DEMO_PLANT).model_copy(update={"state_dir": state_dir})
    watchers = {m["id"]: [("bearing-wear", "1.1.0")] for m in config.machines}
    recorder = recorder_for(config, state_dir, watchers)
    for hour in range(24 * days):
        start = T0 + timedelta(hours=hour)
        recorder.production(start, start + timedelta(hours=1), failed=set())
        status = Status.GREEN if hour < 20 or hour > 40 else Status.AMBER
        recorder.health([report("mill-1", start, status, 0.9 if status is Status.GREEN else 0.55),
                         report("mill-2", start, Status.GREEN, 0.95)])
    return recorder
