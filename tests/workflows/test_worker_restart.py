"""A worker killed while the supplier call is in flight: a new worker finishes, one order only."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState

from policies.models import Autonomy
from tests.workflows.conftest import Stack, unique
from tests.workflows.test_part_order import eventually, order_input
from workflows.models import PartnerRetry, PartOrderStatus
from workflows.starters import start_part_order

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]


def spawn_worker(stack: Stack, queue: str, stock: Path) -> subprocess.Popen[str]:
    cfg = {
        "temporal": stack.temporal.address, "queue": queue, "stock": str(stock),
        "supplier": stack.partners.supplier_url, "cmms": stack.partners.cmms_url, "mes": stack.partners.mes_url,
        "callback": f"{stack.intake_url}/callbacks/supplier",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.workflows.worker_process", json.dumps(cfg)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
    assert line.strip() == "ready", f"worker did not start (exit {proc.poll()})"


async def test_killed_worker_is_replaced_and_the_supplier_holds_one_order(stack: Stack, tmp_path: Path) -> None:
    queue = unique("kill-")
    stock = tmp_path / "stock.json"
    knobs = stack.partners.supplier.app.state.knobs
    first = spawn_worker(stack, queue, stock)
    second: subprocess.Popen[str] | None = None
    try:
        await wait_ready(first)
        knobs.update({"latency_s": 2.0})  # keeps the order call in flight long enough to kill the worker
        inp = order_input("BELT-XPZ-1250", 5, 22.0, autonomy=Autonomy.AUTO).model_copy(
            update={"retry": PartnerRetry(timeout_s=4.0, initial_interval_s=0.2, max_interval_s=1.0, max_attempts=10)}
        )
        handle = await start_part_order(stack.client, inp, n=unique(), task_queue=queue)

        async def in_flight() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(p.activity_type.name == "place_order" and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                       for p in pending)

        await eventually(in_flight, timeout_s=90)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        knobs.update({"latency_s": 0.0})

        second = spawn_worker(stack, queue, stock)
        await wait_ready(second)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        knobs.update({"latency_s": 0.0})
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)

    assert result.status == PartOrderStatus.RECEIVED
    assert len(stack.supplier_orders(result.po_number)) == 1
    # The order call really was attempted again by the new worker (attempt 2 or later succeeded).
    attempts = [
        e.activity_task_started_event_attributes.attempt
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) >= 2
    assert json.loads(stock.read_text())["receipts"][result.po_number][0]["quantity"] == 5
