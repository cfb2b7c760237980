"""`autoops decisions list / explain`: why did the system do that, months later."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from agents.models import AssetKind, Status
from policies.base import PolicyContext
from policies.engine import PolicyEngine
from policies.loader import load_all
from policies.models import Decision
from policies.store import DecisionStore
from policies.testing import T0, report
from tests.policies.helpers import write_twin_history

AUTOOPS = Path(sys.executable).parent / "autoops"
POLICIES = {pf.loaded.policy.id: pf.loaded for pf in load_all()}


def autoops(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {"AUTOOPS_STATE_DIR": str(state), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(AUTOOPS), *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.fixture
def logged(tmp_path: Path) -> list[Decision]:
    """A morning at the plant: mill-2 vibrates at 9.3 mm/s for 10 minutes, a steel SKU runs short."""
    engine = PolicyEngine([POLICIES["vibration-p1"], POLICIES["material-shortage"]])
    made: list[Decision] = []
    for i, minute in enumerate((0, 5, 10)):
        now = T0 + timedelta(minutes=minute)
        reports = [
            report(
                "mill-2",
                time=now,
                seq=i,
                status=Status.RED,
                indicators={"spindle_vel": (9.3, "mm/s")},
            ),
            report(
                "SKU-STEEL-42",
                time=now,
                seq=i,
                kind=AssetKind.INVENTORY,
                status=Status.RED,
                indicators={
                    "stockout_in_h": 60.0,
                    "lead_time_h": 96.0,
                    "suggested_order_qty": 80.0,
                    "unit_price": (4.5, "EUR"),
                },
            ),
        ]
        made += engine.process(reports, PolicyContext(now=now, site="plant-a"))
    with DecisionStore(state=tmp_path) as store:
        store.append(made)
    return made


def test_list_filters_by_asset_and_policy(tmp_path: Path, logged: list[Decision]) -> None:
    everything = json.loads(autoops("decisions", "list", "--json", state=tmp_path).stdout)
    assert len(everything) == len(logged) == 2  # one per problem, not one per report
    mill = json.loads(
        autoops("decisions", "list", "--asset", "mill-2", "--json", state=tmp_path).stdout
    )
    assert [d["policy_id"] for d in mill] == ["vibration-p1"]
    assert (
        mill[0]["time"] == (T0 + timedelta(minutes=10)).isoformat()
    )  # after the 10 min for-duration
    steel = json.loads(
        autoops(
            "decisions", "list", "--policy", "material-shortage", "--json", state=tmp_path
        ).stdout
    )
    assert [d["asset_id"] for d in steel] == ["SKU-STEEL-42"]
    text = autoops("decisions", "list", state=tmp_path).stdout
    assert "vibration-p1@1.0.0" in text and "create_work_order" in text


def test_explain_names_policy_version_evidence_thresholds_and_parameters(
    tmp_path: Path, logged: list[Decision]
) -> None:
    vib = next(d for d in logged if d.policy_id == "vibration-p1")
    out = autoops("decisions", "explain", vib.decision_id, state=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "policy:      vibration-p1 version 1.0.0" in text
    assert "spindle_vel = 9.3 >= 7.1 mm/s" in text  # the threshold crossed, with the evidence
    assert "for_duration_min = 10" in text and "clear_at = 5.5" in text  # parameter values
    assert "inputs:      mill-2:2" in text  # the report it saw
    assert "create_work_order (auto)" in text
    order = next(d for d in logged if d.policy_id == "material-shortage")
    text = autoops("decisions", "explain", order.decision_id[:12], state=tmp_path).stdout
    assert "stockout_in_h = 60 <= 96 h" in text and "quantity = 80" in text
    assert "360.00 EUR" in text


def test_explain_a_recorded_backtest_decision(tmp_path: Path) -> None:
    csv_path, toml_path, _ = write_twin_history(tmp_path, seed=1)
    state = tmp_path / "state"
    run = autoops(
        "policy",
        "backtest",
        "--history",
        str(csv_path),
        "--asset",
        str(toml_path),
        "--policy",
        "bearing-wear",
        "--record",
        "--json",
        state=state,
    )
    assert run.returncode == 0, run.stderr
    maint = next(
        d
        for d in json.loads(run.stdout)["policies"]["bearing-wear"]
        if d["action"] == "schedule_maintenance"
    )
    text = autoops("decisions", "explain", maint["decision_id"], state=state).stdout
    assert "bearing-wear version 1.2.0" in text and "outcome:     shadow" in text
    assert "rul_lower_h = " in text and "<= 400 h" in text
    assert "roles maintenance_lead" in text


def test_explain_an_unknown_id_fails_with_a_hint(tmp_path: Path) -> None:
    out = autoops("decisions", "explain", "d-does-not-exist", state=tmp_path)
    assert out.returncode == 2
    assert "no decision 'd-does-not-exist'" in out.stderr and "autoops decisions list" in out.stderr


def test_list_and_explain_say_how_what_a_decision_started_ended(tmp_path: Path, logged: list[Decision]) -> None:
    """Issue 13: the decision log carries the final outcome of what it started, in the CLI too."""
    from datetime import UTC, datetime

    from policies.models import ActionResult

    order = next(d for d in logged if d.policy_id == "material-shortage")
    vib = next(d for d in logged if d.policy_id == "vibration-p1")
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with DecisionStore(state=tmp_path) as store:
        store.link(order.decision_id, now=now, workflow_id="po:plant-a:SKU-STEEL-42:1")
        store.link(vib.decision_id, now=now, workflow_id="wo:plant-a:mill-2:1")
        store.record_result(order.decision_id, ActionResult(
            workflow_id="po:plant-a:SKU-STEEL-42:1", run_id="0f3c2a1b9d", ended="rejected",
            by=("ben",), reason="price too high", time=now,
        ))
    lines = autoops("decisions", "list", state=tmp_path).stdout.splitlines()
    assert any("material-shortage" in line and "-> rejected by ben — price too high" in line for line in lines), lines
    assert any("vibration-p1" in line and "-> running" in line for line in lines), lines
    text = autoops("decisions", "explain", order.decision_id, state=tmp_path).stdout
    assert "how it ended (each run it started):" in text
    assert "po:plant-a:SKU-STEEL-42:1 run 3c2a1b9d: rejected by ben — price too high" in text  # the PO's run tag
    assert "how it ended: still running" in autoops("decisions", "explain", vib.decision_id, state=tmp_path).stdout
