"""Issue 13, must-show 3: nothing red goes unowned, through the real loop, Temporal and the web API.

* A red compressor reaches a person: the real ``compressor-drift`` policy flags the drift, the
  loop starts its review, the review lands in the inbox of the role that owns the compressor
  (``[owners]``), a person of that role closes it with a comment through the web API, and the
  decision log records how it ended. The drift persists: one cool-down later it is flagged again.
* A rejected order whose SKU then runs out produces an inbox item for the buyer role within one
  cool-down: the real ``material-shortage`` policy orders, the buyer rejects it in the web UI's
  API, the stock runs out, and the loop proposes a new order to the buyer after the cool-down.

The loop is the real ``Orchestrator`` with a fleet that turns each reading into the report an
agent would give (the agents are tested on their own) and a clock the test moves, so hours of
plant time pass in seconds; the workflows run on a worker from ``build_worker`` against the
session's Temporal dev server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.base import Reading
from agents.models import AssetKind, HealthReport, Status
from orchestrator.backend import PlantBackend
from orchestrator.config import PlantConfig, parse_config
from orchestrator.passwords import hash_password
from orchestrator.progress import Progress
from orchestrator.runtime import Orchestrator
from orchestrator.web.app import create_app
from policies.engine import PolicyEngine
from policies.loader import load_all
from policies.store import DecisionStore
from policies.testing import report
from tests.orchestrator.test_web import client_for, sign_in
from tests.workflows.conftest import Stack, unique
from tests.workflows.report_fleet import ReportFleet
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

POLICIES = {pf.loaded.policy.id: pf.loaded for pf in load_all()}


class ClockedOrchestrator(Orchestrator):
    """The real loop on a clock the test sets (plant time), instead of the wall clock."""

    plant_time: datetime = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    @property
    def now(self) -> datetime:
        return self.plant_time


def _plant(state_dir: Path, site: str, owners: dict[str, Any]) -> PlantConfig:
    people = {"ana": "maintenance_lead", "rita": "reliability_engineer", "carla": "buyer"}
    return parse_config(
        {
            "site": site,
            "state_dir": str(state_dir),
            "roles": {
                "maintenance_lead": {"approval_limit": 5000},
                "buyer": {"approval_limit": 20000},
                "reliability_engineer": {"approval_limit": 0, "can_approve": False},
            },
            "users": [
                {"name": name, "roles": [role], "password_hash": hash_password(f"{name}-pw", salt=name.encode().ljust(16, b"0"))}
                for name, role in people.items()
            ],
            "owners": owners,
        }
    )


async def _loop(stack: Stack, tmp_path: Path, config: PlantConfig, policy: str, make: Callable[[Reading], HealthReport]) -> tuple[ClockedOrchestrator, Any, list[httpx.AsyncClient]]:
    queue = unique("q-unowned-")
    http = [httpx.AsyncClient(base_url=url) for url in (
        stack.partners.supplier_url, stack.partners.cmms_url, stack.partners.mes_url)]
    deps = WorkerDeps.from_http(supplier=http[0], cmms=http[1], mes=http[2], stock=stack.stock)
    worker = build_worker(stack.client, deps, task_queue=queue)
    orch = ClockedOrchestrator(
        config,
        client=stack.client,
        fleet=ReportFleet(make),
        engine=PolicyEngine([POLICIES[policy]]),
        store=DecisionStore(state=tmp_path),
        progress=Progress(sim_start=ClockedOrchestrator.plant_time),
        state_dir=tmp_path,
        sim=None,
        task_queue=queue,
    )
    return orch, worker, http


async def _tick(orch: ClockedOrchestrator, asset: str, hours: float = 1.0) -> list[str]:
    orch.plant_time += timedelta(hours=hours)
    return (await orch.step([Reading(asset, orch.plant_time, {"tick": 1.0})])).started


async def _until_closed(orch: ClockedOrchestrator, asset: str, workflow_id: str) -> None:
    """Tick (an hour each) until the loop has noticed the workflow closed (it checks every few ticks)."""
    for _ in range(50):
        if workflow_id not in orch.workflows:
            return
        await _tick(orch, asset)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the loop never saw {workflow_id} close")


async def _item(web: httpx.AsyncClient, workflow_id: str, state: str) -> dict[str, Any]:
    """The inbox item of ``workflow_id`` once it is in ``state`` (the gate opens asynchronously)."""
    for _ in range(300):
        items = [i for i in (await web.get("/api/approvals")).json() if i["id"] == workflow_id and i["state"] == state]
        if items:
            return items[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} never showed in the inbox as {state}")


async def test_a_red_compressor_reaches_a_person_of_its_owning_role(stack: Stack, tmp_path: Path) -> None:
    site = unique("pc")
    config = _plant(tmp_path, site, {"assets": {"C-1": "reliability_engineer"}})
    drift = 20.0  # % above the baseline, for ever: the compressor stays red

    def compressor(reading: Reading) -> HealthReport:
        return report(
            "C-1", time=reading.time, kind=AssetKind.ENERGY, status=Status.RED,
            indicators={"specific_power": (6.0 * (1 + drift / 100), "kW/(m3/min)"),
                        "specific_power_baseline": (6.0, "kW/(m3/min)")},
        )

    orch, worker, http = await _loop(stack, tmp_path, config, "compressor-drift", compressor)
    cooldown = POLICIES["compressor-drift"].policy.cooldown
    try:
        async with worker:
            started: list[str] = []
            for _ in range(12):  # the drift must last 6 h before it is flagged
                started += await _tick(orch, "C-1")
            [workflow_id] = started
            assert workflow_id.startswith(f"review:{site}:C-1:")
            [decision] = [d for d in orch.store.list() if d.workflow_id == workflow_id]
            assert decision.policy_version == "2.0.0" and decision.proposed is not None
            fired_at = decision.time

            app = create_app(config, PlantBackend(stack.client, orch, ""))
            async with client_for(app) as rita, client_for(app) as ana:
                rita_csrf = await sign_in(rita, "rita")
                ana_csrf = await sign_in(ana, "ana")
                item = await _item(rita, workflow_id, "review")
                # In the inbox of the compressor's owning role, with the reason and the evidence.
                assert item["roles"] == ["reliability_engineer"] and item["asset_id"] == "C-1"
                assert "specific power is 20.0% above its baseline" in item["explanation"]
                assert item["evidence"]["drift_pct"] == pytest.approx(20.0) and "payback_years" in item["evidence"]
                assert item["decision_id"] == decision.decision_id
                page = await rita.get("/approvals")
                assert "Close review" in page.text and workflow_id in page.text

                # Someone of another role may not close it; without a comment nobody may.
                refused = await ana.post(f"/api/approvals/{workflow_id}/close", json={"comment": "seen"},
                                         headers={"X-CSRF-Token": ana_csrf})
                assert refused.status_code == 403 and "may not close this review" in refused.json()["message"]
                approve = await rita.post(f"/api/approvals/{workflow_id}/approve", json={"comment": "ok"},
                                          headers={"X-CSRF-Token": rita_csrf})
                assert approve.status_code == 403 and "close it with a comment" in approve.json()["message"]
                bare = await rita.post(f"/api/approvals/{workflow_id}/close", json={"comment": " "},
                                       headers={"X-CSRF-Token": rita_csrf})
                assert bare.status_code == 403 and "comment" in bare.json()["message"]

                comment = "drift confirmed on the meter; replacement goes into next year's budget"
                closed = await rita.post(f"/api/approvals/{workflow_id}/close", json={"comment": comment},
                                         headers={"X-CSRF-Token": rita_csrf})
                assert closed.status_code == 200 and closed.json()["state"] == "closed", closed.text
                result = await asyncio.wait_for(stack.client.get_workflow_handle(workflow_id).result(), 60)
                assert result["status"] == "closed" and result["reason"] == comment
                assert workflow_id not in [i["id"] for i in (await rita.get("/api/approvals")).json()]

                # The decision log records how the review ended: closed by rita, in her words.
                await _until_closed(orch, "C-1", workflow_id)
                [ended] = orch.store.get(decision.decision_id).results
                assert (ended.ended, ended.by, ended.reason) == ("closed", ("rita",), comment)
                view = (await rita.get(f"/api/workflows/{workflow_id}")).json()
                assert view["kind"] == "review" and view["status"] == "completed"
                assert any(e["kind"] == "approval" and e["text"] == f"closed: “{comment}”" for e in view["timeline"])

                # The drift persists: after the cool-down it goes to a person again (a new run).
                again: list[str] = []
                while not again:
                    again = await _tick(orch, "C-1")
                    assert orch.plant_time <= fired_at + cooldown + timedelta(hours=2), "not flagged again"
                assert again == [workflow_id] and orch.plant_time >= fired_at + cooldown
                second = await _item(rita, workflow_id, "review")
                assert second["decision_id"] != decision.decision_id
                done = await rita.post(f"/api/approvals/{workflow_id}/close", json={"comment": "same as before"},
                                       headers={"X-CSRF-Token": rita_csrf})
                assert done.status_code == 200
                await asyncio.wait_for(stack.client.get_workflow_handle(workflow_id).result(), 60)
    finally:
        orch.close()
        for client in http:
            await client.aclose()


async def test_a_rejected_order_whose_sku_runs_out_goes_to_the_buyer_again_within_one_cool_down(
    stack: Stack, tmp_path: Path
) -> None:
    site = unique("pc")
    sku = "BAR-42CRMO4-40"
    config = _plant(tmp_path, site, {})
    stock = {"pcs": 40.0}

    def bar_stock(reading: Reading) -> HealthReport:
        left = stock["pcs"]
        return report(
            sku, time=reading.time, kind=AssetKind.INVENTORY, status=Status.RED if left <= 0 else Status.AMBER,
            indicators={"stock": left, "stockout_in_h": left / 0.5, "lead_time_h": 120.0,
                        "review_period_h": 24.0, "reorder_point": 90.0, "eoq": 60.0,
                        "suggested_order_qty": 60.0, "unit_price": (40.0, "EUR"), "consumption_rate": 0.5},
        )

    orch, worker, http = await _loop(stack, tmp_path, config, "material-shortage", bar_stock)
    cooldown = POLICIES["material-shortage"].policy.cooldown
    try:
        async with worker:
            started: list[str] = []
            for _ in range(6):
                started += await _tick(orch, sku)
                if started:
                    break
            [workflow_id] = started
            assert workflow_id.startswith(f"po:{site}:{sku}:")
            fired_at = orch.plant_time
            app = create_app(config, PlantBackend(stack.client, orch, ""))
            async with client_for(app) as carla:
                csrf = await sign_in(carla, "carla")
                item = await _item(carla, workflow_id, "pending")
                assert "buyer" in item["roles"] and item["amount"] == pytest.approx(2400.0)
                rejected = await carla.post(f"/api/approvals/{workflow_id}/reject",
                                            json={"comment": "supplier price is wrong, hold the order"},
                                            headers={"X-CSRF-Token": csrf})
                assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
                first_run = (await stack.client.get_workflow_handle(workflow_id).describe()).run_id
                await asyncio.wait_for(stack.client.get_workflow_handle(workflow_id).result(), 60)

                stock["pcs"] = 0.0  # the line used the rest: the bar stock is out
                await _until_closed(orch, sku, workflow_id)
                [first] = [d for d in orch.store.list() if d.workflow_id == workflow_id]
                assert [(r.ended, r.by) for r in orch.store.get(first.decision_id).results] == [("rejected", ("carla",))]

                again: list[str] = []
                while not again:
                    again = await _tick(orch, sku)
                    assert orch.plant_time <= fired_at + cooldown + timedelta(hours=1), "no new order within one cool-down"
                assert again == [workflow_id]
                second = await _item(carla, workflow_id, "pending")
                assert "buyer" in second["roles"] and second["decision_id"] != first.decision_id
                assert (await stack.client.get_workflow_handle(workflow_id).describe()).run_id != first_run
                # Stop what the test started: the buyer rejects the second order too.
                await carla.post(f"/api/approvals/{workflow_id}/reject", json={"comment": "test over"},
                                 headers={"X-CSRF-Token": csrf})
                await asyncio.wait_for(stack.client.get_workflow_handle(workflow_id).result(), 60)
    finally:
        orch.close()
        for client in http:
            await client.aclose()
