"""Outcomes end to end: the technician's finding travels from the reference CMMS through a signed
callback to the intake on loopback, into the history; `autoops policy report` shows it.

A no-fault-found finding lowers the policy's precision; a breakdown with no open decision counts
as a missed failure of the policies that watch the asset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agents.models import Status
from orchestrator.config import PlantConfig
from orchestrator.history.recorder import HistoryRecorder, recorder_for
from orchestrator.intake import create_intake_router
from orchestrator.reference.knobs import CmmsKnobs
from orchestrator.reference.serve import (
    ReferenceStack,
    RunningServer,
    serve_app,
    start_reference_servers,
)
from policies.models import Decision, DecisionOutcome
from tests.orchestrator.learn.plant_history import report
from tests.orchestrator.test_reference_live import wait_until
from workflows.integrations.cmms import CmmsClient
from workflows.integrations.models import CallbackEvent
from workflows.models import workflow_id_for_ref

pytestmark = pytest.mark.integration
SECRETS = {"supplier": "learn-supplier-secret", "cmms": "learn-cmms-secret"}
T0 = datetime(2026, 5, 4, 0, tzinfo=UTC)
AUTOOPS = Path(sys.executable).parent / "autoops"
MACHINES = tuple({"id": a, "line": "line-a", "capabilities": ["milling.3axis"]} for a in ("mill-1", "mill-2", "lathe-1"))


class PlantClock:
    now = T0


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[HistoryRecorder]:
    config = PlantConfig(site="s", machines=MACHINES)
    rec = recorder_for(config, tmp_path, {m["id"]: [("bearing-wear", "1.2.0")] for m in MACHINES})
    yield rec
    rec.store.close()


@pytest.fixture
def intake(recorder: HistoryRecorder) -> Iterator[RunningServer]:
    async def on_event(event: CallbackEvent) -> None:  # what the orchestrator's intake does
        if event.external_ref:
            recorder.finding(workflow_id_for_ref(event.external_ref), event.payload, PlantClock.now)

    app = FastAPI()
    app.include_router(create_intake_router(secrets=SECRETS, on_event=on_event,
                                            clock=lambda: datetime.now(UTC), max_skew_s=300))
    server = serve_app(app)
    yield server
    server.stop()


@pytest.fixture
def partners(tmp_path: Path) -> Iterator[ReferenceStack]:
    running = start_reference_servers(tmp_path / "partners", callback_secrets=SECRETS, cmms_knobs=CmmsKnobs())
    yield running
    running.stop()


def decision(asset: str, at: datetime) -> Decision:
    return Decision.model_validate({
        "decision_id": f"d-{asset}", "time": at, "policy_id": "bearing-wear", "policy_version": "1.2.0",
        "policy_source_hash": "x", "asset_id": asset, "outcome": DecisionOutcome.PROPOSED.value,
        "explanation": "bearing defect frequency rising",
    })


def policy_report(state_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "AUTOOPS_STATE_DIR": str(state_dir)}
    done = subprocess.run([str(AUTOOPS), "policy", "report", "--policy", "bearing-wear", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    return row


async def test_findings_and_missed_failures_through_the_cmms_callback(
    tmp_path: Path, recorder: HistoryRecorder, partners: ReferenceStack, intake: RunningServer
) -> None:
    # mill-1 and mill-2 turn amber; the policy opens a maintenance job on each.
    recorder.health([report("mill-1", T0, Status.GREEN, 0.9), report("mill-2", T0, Status.GREEN, 0.9)])
    recorder.health([report("mill-1", T0 + timedelta(hours=2), Status.AMBER, 0.5)])
    recorder.health([report("mill-2", T0 + timedelta(hours=5), Status.AMBER, 0.5)])
    jobs = {asset: f"maint:s:{asset}" for asset in ("mill-1", "mill-2")}
    for asset, at in (("mill-1", T0 + timedelta(hours=10)), ("mill-2", T0 + timedelta(hours=12))):
        recorder.decisions([decision(asset, at)], {f"d-{asset}": jobs[asset]})
        recorder.workflow_started(jobs[asset], {"kind": "schedule_maintenance", "asset_id": asset,
                                                "decision_id": f"d-{asset}", "started_at": at.isoformat()})
    async with httpx.AsyncClient(base_url=partners.cmms_url) as http:
        cmms = CmmsClient(http)
        orders = {}
        for asset, workflow_id in jobs.items():
            placed = await cmms.create_work_order(
                asset, "P3", "Replace spindle bearing", "", T0, T0 + timedelta(hours=4), {},
                f"{workflow_id}~run1", callback_url=f"{intake.url}/callbacks/cmms",
            )
            orders[asset] = placed.work_order.work_order_id

        # The technician finds the worn bearing on mill-1 at hour 20.
        PlantClock.now = T0 + timedelta(hours=20)
        await http.post(f"/work-orders/{orders['mill-1']}/complete",
                        json={"completed_by": "tech-7", "notes": "outer race spalled", "fault_confirmed": True})
        await wait_until(lambda: policy_report(tmp_path)["confirmed"] == 1)
        first = policy_report(tmp_path)
        assert (first["actions"], first["no_fault_found"], first["precision"]) == (2, 0, 1.0)
        assert first["median_lead_h"] == 18.0  # amber at hour 2, fault confirmed at hour 20

        # ... and nothing on mill-2: no fault found lowers the precision.
        PlantClock.now = T0 + timedelta(hours=22)
        await http.post(f"/work-orders/{orders['mill-2']}/complete",
                        json={"completed_by": "tech-7", "notes": "bearing fine, sensor cable loose",
                              "fault_confirmed": False})
        await wait_until(lambda: policy_report(tmp_path)["no_fault_found"] == 1)
    second = policy_report(tmp_path)
    assert second["precision"] == 0.5 < first["precision"]
    assert second["missed"] == 0

    # lathe-1 breaks down red with no decision open on it: a missed failure. mill-1 failing while
    # its job is open is not one (the policy saw it coming).
    recorder.breakdowns(["lathe-1", "mill-1"], open_assets={"mill-1"}, at=T0 + timedelta(hours=30))
    third = policy_report(tmp_path)
    assert third["missed"] == 1
    assert third["precision"] == 0.5  # a missed failure is recall, not precision
