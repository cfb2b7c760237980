"""The embedded Temporal server restarted on its SQLite file: a waiting approval survives it, and
lost supplier callbacks are made up for by reading the supplier's record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from orchestrator.temporal import connect, free_port, start_dev_server
from tests.workflows.conftest import Stack, unique
from tests.workflows.test_part_order import order_input, vote, wait_state
from workflows.common import StockLedger
from workflows.models import ApprovalState, PartOrderStatus
from workflows.part_order.workflow import PartOrderWorkflow
from workflows.starters import start_part_order
from workflows.worker import WorkerDeps, build_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_pending_approval_survives_a_temporal_restart(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    async with (
        httpx.AsyncClient(base_url=stack.partners.supplier_url) as supplier,
        httpx.AsyncClient(base_url=stack.partners.cmms_url) as cmms,
        httpx.AsyncClient(base_url=stack.partners.mes_url) as mes,
    ):
        deps = WorkerDeps.from_http(supplier=supplier, cmms=cmms, mes=mes, stock=StockLedger(),
                                    supplier_callback_url=f"{stack.intake_url}/callbacks/supplier")
        server = await start_dev_server(tmp_path, port=port, headless=True)
        try:
            client = await connect(address=server.address)
            async with build_worker(client, deps, task_queue="restart"):
                # The session's intake signals the session's server, not this one: the supplier's
                # callbacks are lost here, and the workflow reads the supplier's record instead.
                inp = order_input("BRG-6308-ZZ", 20, 38.0).model_copy(update={"confirmation_timeout_s": 1.0})
                handle = await start_part_order(client, inp, n=unique(), task_queue="restart")
                await wait_state(handle, ApprovalState.PENDING)
            server.stop()

            server = await start_dev_server(tmp_path, port=port, headless=True)  # same SQLite file
            client = await connect(address=server.address)
            async with build_worker(client, deps, task_queue="restart"):
                handle = client.get_workflow_handle_for(PartOrderWorkflow.run, handle.id)
                status = await handle.query(PartOrderWorkflow.approval)
                assert status.state == ApprovalState.PENDING and status.amount == 760.0
                await vote(handle, "bob", "buyer")
                result = await asyncio.wait_for(handle.result(), timeout=120)
        finally:
            server.stop()
    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1
    assert result.shipment_id == ""  # no ship notice arrived: the supplier's record said "shipped"
