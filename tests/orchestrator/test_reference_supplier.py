"""The reference supplier through ``httpx.ASGITransport``, driven by our own ``SupplierClient``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agents.errors import (
    MalformedResponseError,
    RejectedByPartnerError,
    RetryableIntegrationError,
)
from orchestrator.reference.knobs import SupplierKnobs
from orchestrator.reference.supplier import create_supplier_app
from workflows.integrations.models import OrderLine, OrderStatus
from workflows.integrations.supplier import SupplierClient

LINES = [OrderLine(sku="BRG-6205-2RS", quantity=4), OrderLine(sku="BELT-XPZ-1250", quantity=1)]


def client_for(app: object) -> tuple[SupplierClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://supplier")
    return SupplierClient(http), http


def held() -> SupplierKnobs:
    # No confirmation timers: these tests look at the ledger, not at callbacks.
    return SupplierKnobs(confirm_delay_s=None)


async def test_same_po_twice_gives_one_order_priced_from_the_catalog(tmp_path: Path) -> None:
    client, http = client_for(create_supplier_app(tmp_path, secret="s", knobs=held()))
    first = await client.place_order("PO-PLANT1-0001", LINES, "EUR", "plant-1", None)
    again = await client.place_order("PO-PLANT1-0001", LINES, "EUR", "plant-1", None)
    assert first.created and not again.created
    assert again.order == first.order
    assert first.order.status is OrderStatus.RECEIVED
    assert first.order.total == pytest.approx(4 * 14.5 + 22.0)
    listed = (await http.get("/orders")).json()["orders"]
    assert [o["po_number"] for o in listed] == ["PO-PLANT1-0001"]
    assert await client.get_order("PO-PLANT1-0001") == first.order
    assert await client.get_order("PO-NEVER") is None


async def test_ledger_survives_a_restart(tmp_path: Path) -> None:
    client, _ = client_for(create_supplier_app(tmp_path, secret="s", knobs=held()))
    first = await client.place_order("PO-7", LINES, "EUR", "plant-1", None)
    restarted, _ = client_for(create_supplier_app(tmp_path, secret="s", knobs=held()))
    again = await restarted.place_order("PO-7", LINES, "EUR", "plant-1", None)
    assert not again.created and again.order.supplier_order_id == first.order.supplier_order_id


async def test_validation_refusals_name_every_bad_line(tmp_path: Path) -> None:
    client, http = client_for(create_supplier_app(tmp_path, secret="s", knobs=held()))
    bad = [OrderLine(sku="NO-SUCH-SKU", quantity=1), OrderLine(sku="BRG-6205-2RS", quantity=0)]
    with pytest.raises(RejectedByPartnerError) as info:
        await client.place_order("PO-BAD", bad, "EUR", "plant-1", None)
    assert info.value.status_code == 422
    assert "line 1: unknown SKU 'NO-SUCH-SKU'" in info.value.reason
    assert "line 2: quantity must be > 0, got 0" in info.value.reason
    assert (await http.get("/orders")).json()["orders"] == []


async def test_reusing_a_po_number_for_other_goods_is_refused(tmp_path: Path) -> None:
    client, _ = client_for(create_supplier_app(tmp_path, secret="s", knobs=held()))
    await client.place_order("PO-9", LINES, "EUR", "plant-1", None)
    with pytest.raises(RejectedByPartnerError) as info:
        await client.place_order("PO-9", LINES[:1], "EUR", "plant-1", None)
    assert info.value.status_code == 409 and "already used" in info.value.reason


async def test_knobs_make_the_supplier_fail_the_way_the_client_expects(tmp_path: Path) -> None:
    app = create_supplier_app(tmp_path, secret="s", knobs=held())
    client, http = client_for(app)

    await http.put("/admin/knobs", json={"error_rate": 1.0})
    with pytest.raises(RetryableIntegrationError) as five:
        await client.place_order("PO-K", LINES, "EUR", "plant-1", None)
    assert five.value.status_code == 503
    assert (await http.get("/admin/knobs")).json()["error_rate"] == 1.0

    await http.put("/admin/knobs", json={"error_rate": 0.0, "rate_limit_rate": 1.0})
    with pytest.raises(RetryableIntegrationError) as limited:
        await client.place_order("PO-K", LINES, "EUR", "plant-1", None)
    assert limited.value.status_code == 429

    # A garbled answer comes after the order was taken: the retry must find it, not double it.
    await http.put("/admin/knobs", json={"rate_limit_rate": 0.0, "malformed_rate": 1.0})
    with pytest.raises(MalformedResponseError):
        await client.place_order("PO-K", LINES, "EUR", "plant-1", None)
    await http.put("/admin/knobs", json={"malformed_rate": 0.0})
    retried = await client.place_order("PO-K", LINES, "EUR", "plant-1", None)
    assert not retried.created
    assert len((await http.get("/orders")).json()["orders"]) == 1

    refused = await http.put("/admin/knobs", json={"error_rate": 2})
    assert refused.status_code == 422 and "error_rate" in refused.json()["reason"]


async def test_seeded_error_rate_is_repeatable(tmp_path: Path) -> None:
    async def pattern(seed: int, where: Path) -> list[int]:
        app = create_supplier_app(where, secret="s", knobs=SupplierKnobs(error_rate=0.5, seed=seed))
        _, http = client_for(app)
        return [(await http.get("/orders")).status_code for _ in range(20)]

    a = await pattern(3, tmp_path / "a")
    b = await pattern(3, tmp_path / "b")
    assert a == b and 503 in a and 200 in a


async def test_held_order_advances_only_when_told(tmp_path: Path) -> None:
    client, http = client_for(create_supplier_app(tmp_path, secret="s", knobs=held()))
    await client.place_order("PO-HOLD", LINES, "USD", "plant-1", None)
    confirmed = (await http.post("/admin/orders/PO-HOLD/advance")).json()
    assert confirmed["status"] == "confirmed" and confirmed["expected_delivery"]
    shipped = await http.post("/admin/orders/PO-HOLD/advance")
    assert shipped.json()["status"] == "shipped" and shipped.json()["tracking_number"]
    order = await client.get_order("PO-HOLD")
    assert order is not None and order.status is OrderStatus.SHIPPED
