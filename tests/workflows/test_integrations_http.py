"""Error mapping at the one httpx boundary, with ``httpx.MockTransport`` standing in for partners."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from agents.errors import (
    IntegrationError,
    MalformedResponseError,
    PartnerContractError,
    RejectedByPartnerError,
    RetryableIntegrationError,
)
from policies.models import PartLine
from workflows.integrations.mes import MesClient
from workflows.integrations.models import OrderLine
from workflows.integrations.supplier import SupplierClient

SECRETISH = "Bearer top-secret-token"

ORDER_JSON = {
    "po_number": "PO-1",
    "supplier_order_id": "SO-000001",
    "status": "received",
    "lines": [{"sku": "BRG-6205", "quantity": 2, "unit_price": 12.5, "description": ""}],
    "currency": "EUR",
    "total": 25.0,
    "ship_to": {"site": "plant-1", "name": "", "address": ""},
    "created_at": "2026-11-25T10:00:00Z",
}


def supplier(handler: Callable[[httpx.Request], httpx.Response]) -> SupplierClient:
    client = httpx.AsyncClient(
        base_url="http://supplier.test",
        transport=httpx.MockTransport(handler),
        headers={"Authorization": SECRETISH},
    )
    return SupplierClient(client, timeout=2.0)


async def place(client: SupplierClient) -> None:
    await client.place_order(
        "PO-1", [OrderLine(sku="BRG-6205", quantity=2)], "EUR", "plant-1", None
    )


async def test_new_and_repeated_order_are_told_apart_and_key_is_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201 if len(seen) == 1 else 200, json=ORDER_JSON)

    client = supplier(handler)
    lines = [PartLine(sku="BRG-6205", quantity=2, unit_price=12.5)]
    first = await client.place_order("PO-1", lines, "EUR", "plant-1", "http://cb/x")
    again = await client.place_order("PO-1", lines, "EUR", "plant-1", "http://cb/x")
    assert (first.created, again.created) == (True, False)
    assert first.order.total == 25.0
    assert seen[0].headers["Idempotency-Key"] == "PO-1"
    assert b'"po_number":"PO-1"' in seen[0].content


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
async def test_server_errors_and_throttling_are_retryable(status: int) -> None:
    client = supplier(lambda r: httpx.Response(status, headers={"Retry-After": "3"}, text="busy"))
    with pytest.raises(RetryableIntegrationError) as info:
        await place(client)
    assert info.value.retryable and info.value.status_code == status
    assert f"HTTP {status}" in str(info.value) and "place_order" in str(info.value)


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")],
)
async def test_transport_failures_are_retryable(exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(RetryableIntegrationError) as info:
        await place(supplier(handler))
    assert SECRETISH not in str(info.value)


async def test_validation_4xx_carries_the_partners_reason_and_is_final() -> None:
    client = supplier(lambda r: httpx.Response(422, json={"reason": "line 1: unknown SKU 'NOPE'"}))
    with pytest.raises(RejectedByPartnerError) as info:
        await place(client)
    assert not info.value.retryable
    assert info.value.reason == "line 1: unknown SKU 'NOPE'"
    assert "unknown SKU 'NOPE'" in str(info.value)
    assert SECRETISH not in str(info.value)


async def test_garbled_body_is_retryable_but_wrong_shape_is_not() -> None:
    garbled = supplier(lambda r: httpx.Response(201, content=b'{"po_number": "PO-1", "sta'))
    with pytest.raises(MalformedResponseError) as garbled_info:
        await place(garbled)
    assert garbled_info.value.retryable

    wrong = supplier(lambda r: httpx.Response(201, json={**ORDER_JSON, "status": "lost"}))
    with pytest.raises(PartnerContractError) as wrong_info:
        await place(wrong)
    assert not wrong_info.value.retryable
    assert "field status" in str(wrong_info.value)


async def test_lookup_of_unknown_order_is_none_not_an_error() -> None:
    client = supplier(lambda r: httpx.Response(404, json={"reason": "no such PO"}))
    assert await client.get_order("PO-404") is None


async def test_unusable_base_url_is_a_configuration_error() -> None:
    mes = MesClient(httpx.AsyncClient(base_url="ftp://mes.test"))
    with pytest.raises(IntegrationError) as info:
        await mes.list_machines()
    assert not info.value.retryable and "configuration" in str(info.value)
