"""The loop's progress file with the engine's reports saved from their kept JSON text."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from agents.models import Status
from orchestrator.progress import Progress
from policies.engine import PolicyEngine
from policies.testing import T0, report
from tests.policies.helpers import threshold_policy, vib


def test_progress_saved_from_kept_json_restores_the_same_engine(tmp_path: Path) -> None:
    engine = PolicyEngine([threshold_policy(for_duration=timedelta(minutes=10))])
    engine.observe([vib("m-2", 0, 8.0), report("m-1", time=T0, status=Status.RED, seq=1)])
    path = tmp_path / "progress.json"
    progress = Progress(sim_start=T0)
    for minute in (1, 2):  # the second save reuses the first one's text for the unchanged m-1
        engine.observe([vib("m-2", minute, 8.0 + minute, seq=minute)])
        progress.engine = engine.snapshot(latest=False)
        progress.engine_latest = engine.latest_json()
        progress.save(path)
    loaded = Progress.load(path, T0)
    # What the file says is what the old format said: the engine's snapshot, reports included.
    assert loaded.engine == json.loads(json.dumps(engine.snapshot()))
    resumed = PolicyEngine([threshold_policy(for_duration=timedelta(minutes=10))])
    resumed.restore(loaded.engine)
    assert resumed.snapshot() == engine.snapshot()
    assert [r["asset_id"] for r in loaded.engine["latest"]] == ["m-1", "m-2"]
    assert loaded.engine["latest"][1]["seq"] == 2


def test_a_progress_file_of_the_old_format_still_loads(tmp_path: Path) -> None:
    engine = PolicyEngine([threshold_policy()])
    engine.observe([vib("m-1", 0, 8.0)])
    progress = Progress(sim_start=T0, engine=engine.snapshot())  # reports inside the snapshot
    progress.save(tmp_path / "progress.json")
    loaded = Progress.load(tmp_path / "progress.json", T0)
    assert loaded.engine["latest"][0]["asset_id"] == "m-1"
    assert "engine_latest" not in json.loads((tmp_path / "progress.json").read_text())
