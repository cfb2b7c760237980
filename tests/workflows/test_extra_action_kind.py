"""Issue 13, must-show 7: an action kind added from this module alone reaches the loop and the UI.

This module declares a kind the project does not have (calibrate a gauge): its action model, its
workflow, id builder, input model, label and activity, registered once. A policy that proposes it
runs in the real ``Orchestrator`` against the real Temporal dev server; the workflow is started
by the loop, run by a worker from ``build_worker`` and shown by the real web backend (workflow
page, API and board), with nothing under ``orchestrator/`` knowing the kind.

The Temporal sandbox re-imports this module to run its workflow: the project's imports pass
through, and registering the kind again there keeps the first registration.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import pytest
    from pydantic import BaseModel, ConfigDict

    from policies.models import ActionModel, Autonomy, ProposedAction, action_model
    from workflows.kinds import KINDS
    from workflows.registry import ActionKind, StartRequest

if TYPE_CHECKING:
    from agents.base import Reading
    from agents.models import HealthReport
    from orchestrator.config import PlantConfig
    from policies.base import PolicyContext
    from policies.engine import LoadedPolicy
    from tests.workflows.conftest import Stack

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


# --------------------------------------------------------------------------- the kind, declared once


@action_model
class CalibrateGauge(ActionModel):
    kind: Literal["calibrate_gauge"] = "calibrate_gauge"
    asset_id: str
    gauge: str


class CalibrationInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str
    action: CalibrateGauge
    decision_id: str = ""


#: What the calibration "lab" was asked to do (the activity runs in this process, not the sandbox).
CALIBRATED: list[str] = []


@activity.defn(name="record_calibration")
async def record_calibration(inp: CalibrationInput) -> str:
    CALIBRATED.append(f"{inp.action.asset_id}/{inp.action.gauge}")
    return f"CAL-{inp.action.asset_id}-{inp.action.gauge}"


@workflow.defn(name="GaugeCalibration")
class GaugeCalibrationWorkflow:
    @workflow.run
    async def run(self, inp: CalibrationInput) -> str:
        return await workflow.execute_activity(
            record_calibration, inp, start_to_close_timeout=timedelta(seconds=30)
        )


def _calibration_input(proposed: ProposedAction, request: StartRequest) -> CalibrationInput:
    assert isinstance(proposed.action, CalibrateGauge)
    return CalibrationInput(site=request.site, action=proposed.action, decision_id=request.decision_id)


CALIBRATION = KINDS.register(
    ActionKind(
        action=CalibrateGauge,
        workflow=GaugeCalibrationWorkflow,
        run=GaugeCalibrationWorkflow.run,
        build_input=_calibration_input,
        workflow_id=lambda inp, proposed: f"cal:{inp.site}:{inp.action.asset_id}:{inp.action.gauge}",
        prefix="cal",
        label="gauge calibration",
        summary=lambda inp: f"Calibrate {inp.action.gauge} on {inp.action.asset_id}",
        activities=lambda deps: [record_calibration],
    )
)


# --------------------------------------------------------------------------- its policy


def _propose_calibration(
    reports: Sequence[HealthReport], ctx: PolicyContext, params: BaseModel
) -> list[ProposedAction]:
    r = reports[-1]
    drift = r.indicator("pressure_drift")
    if drift is None or drift.value is None or drift.value < 0.5:
        return []
    return [
        ProposedAction(
            action=CalibrateGauge(asset_id=r.asset_id, gauge="PT-101"),
            autonomy=Autonomy.AUTO,
            asset_id=r.asset_id,
            dedup_key=f"{ctx.site}:{r.asset_id}:calibrate:PT-101",
            explanation=f"{r.asset_id} pressure gauge drifts {drift.value:g} bar: calibrate it",
        )
    ]


class NoParams(BaseModel):
    pass


def calibration_policy() -> LoadedPolicy:
    from policies.base import Policy
    from policies.engine import LoadedPolicy

    policy = Policy(
        id="gauge-drift",
        version="1.0.0",
        owner="tests",
        description="A drifting pressure gauge is calibrated.",
        params=NoParams,
        evaluate=_propose_calibration,
        autonomy=Autonomy.AUTO,
    )
    return LoadedPolicy(policy=policy, source_hash="0" * 64, path="")


def _pressure_report(reading: Reading) -> HealthReport:
    """The gauge's report: amber once its drift reaches 0.5 bar."""
    from agents.models import Status
    from policies.testing import report

    drift = float(reading.values["pressure_drift"])
    return report(
        reading.asset_id,
        time=reading.time,
        status=Status.AMBER if drift >= 0.5 else Status.GREEN,
        indicators={"pressure_drift": (drift, "bar")},
    )


# --------------------------------------------------------------------------- the test


async def test_a_kind_registered_here_is_started_by_the_loop_and_shown_in_the_ui(
    stack: Stack, tmp_path: Path
) -> None:
    import asyncio
    from datetime import UTC

    import httpx

    from agents.base import Reading
    from orchestrator.backend import PlantBackend
    from orchestrator.progress import Progress
    from orchestrator.runtime import Orchestrator
    from orchestrator.web.app import create_app
    from policies.engine import PolicyEngine
    from policies.store import DecisionStore
    from tests.orchestrator.test_web import client_for, sign_in
    from tests.workflows.conftest import unique
    from tests.workflows.report_fleet import ReportFleet
    from workflows.worker import WorkerDeps, build_worker

    assert "calibrate_gauge" in KINDS and KINDS.label_of("cal:x:y:z") == "gauge calibration"
    config = _plant(tmp_path)
    queue = unique("q-cal-")
    http = [httpx.AsyncClient(base_url=url) for url in (
        stack.partners.supplier_url, stack.partners.cmms_url, stack.partners.mes_url)]
    deps = WorkerDeps.from_http(supplier=http[0], cmms=http[1], mes=http[2], stock=stack.stock)
    worker = build_worker(stack.client, deps, task_queue=queue)
    assert GaugeCalibrationWorkflow in KINDS.workflows()
    now = datetime.now(UTC)  # the loop without a simulation runs on the wall clock
    orch = Orchestrator(
        config,
        client=stack.client,
        fleet=ReportFleet(_pressure_report),
        engine=PolicyEngine([calibration_policy()]),
        store=DecisionStore(state=tmp_path),
        progress=Progress(sim_start=now),
        state_dir=tmp_path,
        sim=None,
        task_queue=queue,
    )
    asset = unique("press-")
    workflow_id = f"cal:{config.site}:{asset}:PT-101"
    try:
        async with worker:
            quiet = await orch.step([Reading(asset, now, {"pressure_drift": 0.1})])
            assert quiet.started == [] and not orch.workflows.open
            result = await orch.step([Reading(asset, now + timedelta(seconds=1), {"pressure_drift": 0.8})])
            assert result.started == [workflow_id]
            [decision] = result.decisions
            record = orch.workflows.get(workflow_id)
            assert record is not None and record.kind == "calibrate_gauge" and record.asset_id == asset
            assert orch.store.get(decision.decision_id).workflow_id == workflow_id

            handle = stack.client.get_workflow_handle(workflow_id)
            assert await asyncio.wait_for(handle.result(), timeout=60) == f"CAL-{asset}-PT-101"
            assert f"{asset}/PT-101" in CALIBRATED

            app = create_app(config, PlantBackend(stack.client, orch, ""))
            async with client_for(app) as web:
                await sign_in(web, "ana")
                view = (await web.get(f"/api/workflows/{workflow_id}")).json()
                assert view["kind"] == "gauge calibration" and view["status"] == "completed"
                assert view["decision_id"] == decision.decision_id
                assert view["timeline"][0]["kind"] == "decision" and "gauge-drift" in view["timeline"][0]["text"]
                page = await web.get(f"/workflows/{workflow_id}")
                assert page.status_code == 200 and "gauge calibration" in page.text and workflow_id in page.text
                [tile] = [t for t in (await web.get("/api/board")).json() if t["asset_id"] == asset]
                assert tile["open_workflows"] == [workflow_id]

                # The loop notices the workflow closed (it checks every few ticks) and the ledger keeps it.
                for _ in range(5):
                    await orch.step([])
                assert workflow_id not in orch.workflows
                assert orch.workflows.closed[workflow_id].status == "completed"
                [tile] = [t for t in (await web.get("/api/board")).json() if t["asset_id"] == asset]
                assert tile["open_workflows"] == []
                assert (await web.get(f"/api/workflows/{workflow_id}")).json()["decision_id"] == decision.decision_id
    finally:
        orch.close()
        for client in http:
            await client.aclose()


def _plant(state_dir: Path) -> PlantConfig:
    from orchestrator.config import parse_config
    from orchestrator.passwords import hash_password

    return parse_config(
        {
            "site": "pc",
            "state_dir": str(state_dir),
            "roles": {"maintenance_lead": {"approval_limit": 5000}},
            "users": [
                {
                    "name": "ana",
                    "roles": ["maintenance_lead"],
                    "password_hash": hash_password("ana-pw", salt=b"ana".ljust(16, b"0")),
                }
            ],
        }
    )
