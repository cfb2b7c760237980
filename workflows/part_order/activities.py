"""Part-order activities: the supplier calls and the stock receipt. Side effects live here."""

from __future__ import annotations

from temporalio import activity

from workflows.common import StockLedger, partner_boundary
from workflows.integrations.supplier import SupplierClient
from workflows.models import PlacedOrder, PlaceOrderRequest, StockReceipt


class PartOrderActivities:
    """Bound to one supplier client (injected ``httpx.AsyncClient`` inside) and one stock ledger."""

    def __init__(self, supplier: SupplierClient, stock: StockLedger, *, callback_url: str | None = None) -> None:
        self._supplier = supplier
        self._stock = stock
        self._callback_url = callback_url

    @activity.defn(name="place_order")
    async def place_order(self, request: PlaceOrderRequest) -> PlacedOrder:
        """Send the order; the PO number is the idempotency key, so a retry returns the same order."""
        with partner_boundary():
            placement = await self._supplier.place_order(
                request.po_number,
                request.order.lines,
                request.order.currency,
                request.site,
                self._callback_url,
            )
        order = placement.order
        return PlacedOrder(
            po_number=order.po_number,
            supplier_order_id=order.supplier_order_id,
            status=order.status.value,
            created=placement.created,
        )

    @activity.defn(name="get_order_status")
    async def get_order_status(self, po_number: str) -> str:
        """The supplier's own state of a PO (``missing`` when it does not know it)."""
        with partner_boundary():
            order = await self._supplier.get_order(po_number)
        return order.status.value if order is not None else "missing"

    @activity.defn(name="receive_into_stock")
    async def receive_into_stock(self, receipt: StockReceipt) -> bool:
        return await self._stock.receive(receipt.ref, receipt.lines)
