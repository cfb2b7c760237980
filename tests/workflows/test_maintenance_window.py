"""Issue 13: a maintenance job's window is one truth from the card to the CMMS. When the kit it
orders arrives after the window on its card, the job moves to the next window after the kit, the
card and the workflow page show that window with why it moved, and the CMMS work order carries it.
The plant clock is simulated and moved by the test (as the demo's loop moves it per tick), so the
supplier's 3-day lead time runs in plant time."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from temporalio.client import Client

from orchestrator.backend import PlantBackend
from orchestrator.clock import DeploymentClock
from orchestrator.config import PlantConfig, parse_config
from orchestrator.passwords import hash_password
from orchestrator.reference.knobs import CmmsKnobs, SupplierKnobs
from orchestrator.reference.serve import RunningServer, reference_servers
from orchestrator.web.app import create_app
from policies.models import PartLine
from tests.orchestrator.test_web import client_for, sign_in
from tests.workflows.conftest import FAST_RETRY, SECRETS, unique
from tests.workflows.test_maintenance import maintenance_input
from tests.workflows.test_plant_clock import Plant, until
from workflows.common import StockLedger
from workflows.integrations.mes import MesClient
from workflows.integrations.models import WindowKind
from workflows.maintenance.workflow import MaintenanceWorkflow
from workflows.models import ApprovalState, ApprovalVote, Window
from workflows.starters import start_maintenance
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SKU = "BRG-6205-2RS"  # the reference supplier ships it 3 days after confirming


def words(window: Window) -> str:
    return f"{window.name}: {window.start:%a %Y-%m-%d %H:%M}–{window.end:%H:%M} (plant time)"


async def first_window_after(mes: httpx.AsyncClient, after: datetime, hours: float) -> datetime:
    """The oracle, from the MES's raw schedule: the first planned stop that starts at or after
    ``after`` and holds ``hours``."""
    schedule = await MesClient(mes).get_schedule(after, after + timedelta(days=14), asset_id="mill-1")
    for w in schedule.windows:
        if w.kind in (WindowKind.BREAK, WindowKind.MAINTENANCE) and w.end - max(w.start, after) >= timedelta(hours=hours):
            return max(w.start, after)
    raise AssertionError("the reference plan has no window that long")


async def test_parts_arriving_after_the_window_move_the_job_and_the_page_says_why(
    client: Client, intake: RunningServer, tmp_path: Path
) -> None:
    plant = Plant()
    clock = DeploymentClock.simulated(step_h=1.0, tick_s=0.05, start=plant.now)
    clock.attach(lambda: plant.now)
    queue = unique("window-")
    with reference_servers(
        tmp_path / "partners", callback_secrets=SECRETS, clock=clock,
        supplier_knobs=SupplierKnobs(confirm_delay_s=1.0, ship_delay_s=1.0),
        cmms_knobs=CmmsKnobs(auto_complete_delay_s=None),
    ) as partners:
        supplier, cmms, mes = (httpx.AsyncClient(base_url=u) for u in (partners.supplier_url, partners.cmms_url, partners.mes_url))
        stock = StockLedger({SKU: 0})
        deps = WorkerDeps.from_http(
            supplier=supplier, cmms=cmms, mes=mes, stock=stock, timeout_s=5.0,
            supplier_callback_url=f"{intake.url}/callbacks/supplier", clock=clock.now,
        )
        inp = maintenance_input("mill-1", 4.0, parts=(PartLine(sku=SKU, quantity=2, unit_price=14.5),))
        inp = inp.model_copy(update={"clock": clock.model, "retry": FAST_RETRY})
        handle = None
        try:
            async with build_worker(client, deps, task_queue=queue):
                handle = await start_maintenance(client, inp, task_queue=queue)

                async def pending() -> bool:
                    return (await handle.query(MaintenanceWorkflow.approval)).state == ApprovalState.PENDING

                await until(pending, "the job's approval card")
                card = await handle.query(MaintenanceWorkflow.approval)
                planned = await handle.query(MaintenanceWorkflow.planned_window)
                assert planned.start == await first_window_after(mes, plant.now, 4.0)
                assert card.context.window == words(planned) and card.context.window_moved == ""
                assert f"{planned.start:%Y-%m-%d %H:%M}" in card.subject

                await handle.execute_update(
                    MaintenanceWorkflow.decide,
                    ApprovalVote(user="mia", role="maintenance_lead", approve=True, comment="go"),
                )
                # Approved, the kit is ordered; the supplier confirms a plant hour later and ships
                # on its 3-day lead time: after the window on the card.
                orders: list[dict] = []

                def in_state(state: str) -> Callable[[], object]:
                    async def check() -> bool:
                        orders[:] = [o for o in (await supplier.get("/orders")).json()["orders"] if inp.site in o["po_number"]]
                        return bool(orders) and orders[0]["status"] == state
                    return check

                await until(in_state("received"), "the kit's order reaching the supplier")
                plant.advance(1)
                await until(in_state("confirmed"), "the supplier's confirmation")
                delivery = datetime.fromisoformat(orders[0]["expected_delivery"])
                assert delivery > planned.start, (delivery, planned)
                plant.now = delivery + timedelta(hours=1)
                arrived = plant.now

                work_orders: list[dict] = []

                async def work_order() -> bool:
                    work_orders[:] = [w for w in (await cmms.get("/work-orders")).json()["work_orders"]
                                      if w["external_ref"].startswith(handle.id)]
                    return bool(work_orders)

                await until(work_order, "the CMMS work order")
                moved = await handle.query(MaintenanceWorkflow.planned_window)
                expected = await first_window_after(mes, arrived, 4.0)
                assert moved.start == expected and moved.start >= arrived
                [wo] = work_orders
                assert datetime.fromisoformat(wo["window_start"]) == moved.start  # the CMMS's window
                assert datetime.fromisoformat(wo["window_end"]) == moved.end

                # The card shows the window the CMMS uses, and why it is not the one approved.
                card = await handle.query(MaintenanceWorkflow.approval)
                assert card.context.window == words(moved)
                assert f"{moved.start:%Y-%m-%d %H:%M}" in card.subject
                reason = card.context.window_moved
                assert reason.startswith(f"moved from {words(planned)}: ")
                assert f"2 × {SKU}" in reason and f"arrived {arrived:%Y-%m-%d %H:%M}" in reason
                assert card.state == ApprovalState.APPROVED and [v.user for v in card.votes] == ["mia"]

                # The workflow page and its API show the current window with the reason.
                backend = PlantBackend(client, SimpleNamespace(store=None, clock=clock), "")  # type: ignore[arg-type]
                async with client_for(create_app(_plant(tmp_path), backend)) as web:
                    await sign_in(web, "mia")
                    view = (await web.get(f"/api/workflows/{handle.id}")).json()
                    assert view["window"] == words(moved) and view["window_moved"] == reason
                    page = (await web.get(f"/workflows/{handle.id}")).text
                    assert f"Window: <strong>{html.escape(words(moved))}</strong>" in page
                    assert html.escape(reason) in page
        finally:
            if handle is not None:
                try:
                    await handle.terminate("test done")
                except Exception:  # noqa: BLE001  already finished
                    pass
            for h in (supplier, cmms, mes):
                await h.aclose()


def _plant(state_dir: Path) -> PlantConfig:
    return parse_config({
        "site": "pc",
        "state_dir": str(state_dir),
        "roles": {"maintenance_lead": {"approval_limit": 5000}},
        "users": [{"name": "mia", "roles": ["maintenance_lead"],
                   "password_hash": hash_password("mia-pw", salt=b"mia".ljust(16, b"0"))}],
    })
