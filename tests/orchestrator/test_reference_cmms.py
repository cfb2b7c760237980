"""The reference CMMS through ``httpx.ASGITransport``, driven by our ``CmmsClient``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agents.errors import RejectedByPartnerError
from orchestrator.reference.cmms import create_cmms_app
from orchestrator.reference.knobs import CmmsKnobs
from workflows.integrations.cmms import CmmsClient
from workflows.integrations.models import WorkOrderStatus

START = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def client_for(app: object) -> tuple[CmmsClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cmms")
    return CmmsClient(http), http


async def create(client: CmmsClient, ref: str, **changes: object) -> object:
    args: dict[str, object] = {
        "asset_id": "mill-1",
        "priority": "P2",
        "title": "Replace spindle bearing",
        "description": "BPFO peak rising",
        "window_start": START,
        "window_end": START + timedelta(hours=3),
        "evidence": {"rms_mm_s": 7.9},
        "external_ref": ref,
    }
    args.update(changes)
    return await client.create_work_order(**args)  # type: ignore[arg-type]


async def test_one_work_order_per_external_ref(tmp_path: Path) -> None:
    client, http = client_for(create_cmms_app(tmp_path, secret="s"))
    first = await create(client, "maint:plant-1:mill-1")
    again = await create(client, "maint:plant-1:mill-1", title="something else")
    other = await create(client, "maint:plant-1:lathe-1", asset_id="lathe-1")
    assert first.created and not again.created and other.created
    assert again.work_order == first.work_order
    assert first.work_order.window_end - first.work_order.window_start == timedelta(hours=3)
    assert first.work_order.evidence == {"rms_mm_s": 7.9}
    assert await client.find_work_order("maint:plant-1:mill-1") == first.work_order
    assert await client.find_work_order("maint:plant-1:nothing") is None
    assert len((await http.get("/work-orders")).json()["work_orders"]) == 2


async def test_refusals_carry_reasons(tmp_path: Path) -> None:
    client, _ = client_for(create_cmms_app(tmp_path, secret="s", assets=["mill-1"]))
    with pytest.raises(RejectedByPartnerError) as window:
        await create(client, "r1", window_end=START - timedelta(hours=1))
    assert "is not after window_start" in window.value.reason
    with pytest.raises(RejectedByPartnerError) as asset:
        await create(client, "r2", asset_id="press-9")
    assert "unknown asset 'press-9'" in asset.value.reason
    with pytest.raises(RejectedByPartnerError) as priority:
        await create(client, "r3", priority="P1", title=" ")
    assert "title is empty" in priority.value.reason


async def test_completion_closes_once(tmp_path: Path) -> None:
    client, http = client_for(create_cmms_app(tmp_path, secret="s"))
    placed = await create(client, "maint:plant-1:mill-1")
    wo_id = placed.work_order.work_order_id
    closed = await http.post(
        f"/work-orders/{wo_id}/complete",
        json={"completed_by": "j.doe", "notes": "bearing replaced"},
    )
    assert closed.status_code == 200
    again = await http.post(f"/work-orders/{wo_id}/complete", json={"completed_by": "x"})
    assert again.json()["completed_by"] == "j.doe"
    stored = await client.get_work_order(wo_id)
    assert stored is not None and stored.status is WorkOrderStatus.COMPLETED
    assert stored.completion_notes == "bearing replaced"
    assert await client.get_work_order("WO-999999") is None


async def test_auto_complete_knob_closes_work_orders_by_itself(tmp_path: Path) -> None:
    app = create_cmms_app(tmp_path, secret="s", knobs=CmmsKnobs(auto_complete_delay_s=0.05))
    client, _ = client_for(app)
    placed = await create(client, "maint:plant-1:mill-2", asset_id="mill-2")
    assert placed.work_order.status is WorkOrderStatus.OPEN
    for _ in range(100):
        stored = await client.get_work_order(placed.work_order.work_order_id)
        if stored is not None and stored.status is WorkOrderStatus.COMPLETED:
            break
        await asyncio.sleep(0.02)
    assert stored is not None and stored.status is WorkOrderStatus.COMPLETED
    assert stored.completed_by == "auto"
