"""Supplier client: cXML OrderRequest semantics as JSON, the PO number as idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

import httpx

from policies.models import PartLine
from workflows.integrations.http import PartnerHttp
from workflows.integrations.models import (
    OrderLine,
    OrderPlacement,
    OrderRequest,
    ShipTo,
    SupplierOrder,
)


class SupplierClient:
    """Places and reads purchase orders. ``client.base_url`` points at the supplier's API."""

    def __init__(
        self, client: httpx.AsyncClient, *, timeout: httpx.Timeout | float | None = None
    ) -> None:
        self._http = PartnerHttp(client, partner="supplier", timeout=timeout)

    async def place_order(
        self,
        po_number: str,
        lines: Sequence[OrderLine | PartLine],
        currency: str,
        ship_to: ShipTo | str,
        callback_url: str | None,
    ) -> OrderPlacement:
        """Send the order; a repeated PO number returns the supplier's existing order (created=False)."""
        request = OrderRequest(
            po_number=po_number,
            lines=tuple(
                line if isinstance(line, OrderLine) else OrderLine(**line.model_dump())
                for line in lines
            ),
            currency=currency,
            ship_to=ship_to if isinstance(ship_to, ShipTo) else ShipTo(site=ship_to),
            callback_url=callback_url,
        )
        order, status = await self._http.call(
            "POST",
            "/orders",
            operation="place_order",
            response_model=SupplierOrder,
            json_body=request.model_dump(mode="json"),
            # The header lets generic gateways de-duplicate; the body carries it for the ledger.
            headers={"Idempotency-Key": po_number},
        )
        assert order is not None  # only lookups may return None
        return OrderPlacement(order=order, created=status == 201)

    async def get_order(self, po_number: str) -> SupplierOrder | None:
        """The supplier's order for this PO number, or None if it never arrived."""
        order, _ = await self._http.call(
            "GET",
            f"/orders/{quote(po_number, safe='')}",
            operation="get_order",
            response_model=SupplierOrder,
            none_on_404=True,
        )
        return order
