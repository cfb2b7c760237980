"""One clock per deployment (issue 13): on a simulated plant clock a part order's approval
deadline, its times and the supplier's lead time all run in plant time, whatever the wall clock
does. The plant here is the test: it moves the clock by hand, as the demo's loop does per tick."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from orchestrator.clock import DeploymentClock
from orchestrator.reference.knobs import CmmsKnobs, SupplierKnobs
from orchestrator.reference.serve import RunningServer, reference_servers
from policies.models import Autonomy, OrderParts, PartLine
from tests.workflows.conftest import SECRETS, unique
from workflows.common import StockLedger
from workflows.models import (
    ApprovalPolicy,
    ApprovalState,
    ApprovalTier,
    ApprovalVote,
    PartOrderInput,
    PartOrderStatus,
)
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_part_order
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
POLICY = ApprovalPolicy(
    tiers=(
        ApprovalTier(name="buyer", roles=("buyer",), deadline_s=8 * 3600),
        ApprovalTier(name="manager", above=100_000, roles=("plant_manager",), deadline_s=8 * 3600),
    ),
    role_limits={"buyer": 10_000, "plant_manager": 100_000},
    remind_before_s=(),
)


class Plant:
    """The plant's time, moved by the test (the demo's loop moves it one step per tick)."""

    def __init__(self) -> None:
        self.now = T0

    def advance(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s:.0f} s"
        await asyncio.sleep(0.05)


async def test_deadline_times_and_lead_time_run_on_the_plant_clock(
    client: Client, intake: RunningServer, tmp_path: Path
) -> None:
    plant = Plant()
    # Nominal: a plant hour per 0.05 s of wall time; the plant below moves only when told.
    clock = DeploymentClock.simulated(step_h=1.0, tick_s=0.05, start=T0)
    clock.attach(lambda: plant.now)
    queue = unique("clock-")
    with reference_servers(
        tmp_path / "partners", callback_secrets=SECRETS, clock=clock,
        supplier_knobs=SupplierKnobs(confirm_delay_s=1.0, ship_delay_s=1.0),
        cmms_knobs=CmmsKnobs(auto_complete_delay_s=None),
    ) as partners:
        http = [httpx.AsyncClient(base_url=u) for u in (partners.supplier_url, partners.cmms_url, partners.mes_url)]
        stock = StockLedger({"BRG-6205-2RS": 0})
        deps = WorkerDeps.from_http(
            supplier=http[0], cmms=http[1], mes=http[2], stock=stock, timeout_s=5.0,
            supplier_callback_url=f"{intake.url}/callbacks/supplier", clock=clock.now,
        )
        try:
            async with build_worker(client, deps, task_queue=queue):
                handle = await start_part_order(
                    client,
                    PartOrderInput(
                        site="s1", order=OrderParts(supplier="acme", lines=(PartLine(sku="BRG-6205-2RS", quantity=4, unit_price=14.5),)),
                        autonomy=Autonomy.APPROVE, approval=POLICY, clock=clock.model,
                    ),
                    n=unique(), task_queue=queue,
                )

                async def gate_open() -> bool:
                    return (await handle.query(PartOrderWorkflow.approval)).state == ApprovalState.PENDING

                await until(gate_open, "the approval gate opening")
                status = await handle.query(PartOrderWorkflow.approval)
                assert status.opened_at == T0 and status.deadline == T0 + timedelta(hours=8)
                # The plant stands still: wall time passes (dozens of nominal plant hours) and the
                # 8 h deadline does not, because the plant's clock did not move.
                await asyncio.sleep(2.0)
                assert (await handle.query(PartOrderWorkflow.approval)).escalations == ()

                plant.advance(9)  # past the deadline in plant time: it escalates, at plant time

                async def escalated() -> bool:
                    return bool((await handle.query(PartOrderWorkflow.approval)).escalations)

                await until(escalated, "the escalation after the plant passed the deadline")
                status = await handle.query(PartOrderWorkflow.approval)
                assert status.state == ApprovalState.ESCALATED and status.votes == ()
                assert status.escalations[0].at == T0 + timedelta(hours=9)

                plant.advance(1)
                await handle.execute_update(
                    PartOrderWorkflow.decide, ApprovalVote(user="carla", role="buyer", approve=True, comment="ok")
                )
                status = await handle.query(PartOrderWorkflow.approval)
                assert status.state == ApprovalState.APPROVED and status.votes[0].at == T0 + timedelta(hours=10)

                # The supplier confirms on its plant-second delay and ships on the lead time (3
                # days of plant time for this SKU), not seconds later.
                orders: list[dict] = []

                def in_state(state: str) -> Callable[[], Awaitable[bool]]:
                    async def check() -> bool:
                        orders[:] = (await http[0].get("/orders")).json()["orders"]
                        return bool(orders) and orders[0]["status"] == state
                    return check

                await until(in_state("received"), "the order reaching the supplier")
                assert datetime.fromisoformat(orders[0]["created_at"]) == T0 + timedelta(hours=10)
                await asyncio.sleep(0.5)  # the plant stands still: no plant second passes, no confirmation
                assert (await http[0].get("/orders")).json()["orders"][0]["status"] == "received"
                plant.advance(1)
                await until(in_state("confirmed"), "the supplier's confirmation")
                order = orders[0]
                delivery = datetime.fromisoformat(order["expected_delivery"])
                assert delivery == datetime.fromisoformat(order["confirmed_at"]) + timedelta(days=3)
                await asyncio.sleep(1.0)  # a wall second is no lead time
                assert (await http[0].get("/orders")).json()["orders"][0]["status"] == "confirmed"

                plant.now = delivery + timedelta(hours=1)
                result = await asyncio.wait_for(handle.result(), timeout=120)
                assert result.status == PartOrderStatus.RECEIVED
                shipped = (await http[0].get("/orders")).json()["orders"][0]
                assert datetime.fromisoformat(shipped["shipped_at"]) >= delivery
                assert stock.on_hand["BRG-6205-2RS"] == 4
        finally:
            for h in http:
                await h.aclose()
