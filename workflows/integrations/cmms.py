"""CMMS client: MaintainX / Maximo-like work orders, de-duplicated by our external reference."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from policies.models import Priority
from workflows.integrations.http import PartnerHttp
from workflows.integrations.models import (
    WorkOrder,
    WorkOrderList,
    WorkOrderPlacement,
    WorkOrderRequest,
)


class CmmsClient:
    """Creates and reads work orders. Completion arrives as a signed callback, not by polling."""

    def __init__(
        self, client: httpx.AsyncClient, *, timeout: httpx.Timeout | float | None = None
    ) -> None:
        self._http = PartnerHttp(client, partner="cmms", timeout=timeout)

    async def create_work_order(
        self,
        asset_id: str,
        priority: Priority | str,
        title: str,
        description: str,
        window_start: datetime,
        window_end: datetime,
        evidence: Mapping[str, Any],
        external_ref: str,
        callback_url: str | None = None,
    ) -> WorkOrderPlacement:
        """Open a work order; the same ``external_ref`` again returns the existing one (created=False)."""
        request = WorkOrderRequest(
            asset_id=asset_id,
            priority=Priority(priority),
            title=title,
            description=description,
            window_start=window_start,
            window_end=window_end,
            evidence=dict(evidence),
            external_ref=external_ref,
            callback_url=callback_url,
        )
        work_order, status = await self._http.call(
            "POST",
            "/work-orders",
            operation="create_work_order",
            response_model=WorkOrder,
            json_body=request.model_dump(mode="json"),
            headers={"Idempotency-Key": external_ref},
        )
        assert work_order is not None
        return WorkOrderPlacement(work_order=work_order, created=status == 201)

    async def get_work_order(self, work_order_id: str) -> WorkOrder | None:
        work_order, _ = await self._http.call(
            "GET",
            f"/work-orders/{quote(work_order_id, safe='')}",
            operation="get_work_order",
            response_model=WorkOrder,
            none_on_404=True,
        )
        return work_order

    async def find_work_order(self, external_ref: str) -> WorkOrder | None:
        """The work order opened for our reference, or None."""
        found, _ = await self._http.call(
            "GET",
            "/work-orders",
            operation="find_work_order",
            response_model=WorkOrderList,
            params={"external_ref": external_ref},
        )
        assert found is not None
        return found.work_orders[0] if found.work_orders else None
