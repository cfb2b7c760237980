"""The headless demo's summary when a partner answers its ledger reads with 503s or garbage.

Defect 9 of issue 10: with the supplier's error rate up, ``GET /orders`` answered
``{"reason": "injected fault: service unavailable"}`` and the summary iterated that dict's keys as
orders (``TypeError: string indices must be integers``). These run without Temporal or Ray.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from orchestrator.demo import (
    LedgerUnavailable,
    _read_ledger,
    expected_outcomes,
    ledger_entries,
    ledger_summary,
)
from orchestrator.reference.knobs import SupplierKnobs
from orchestrator.reference.supplier import create_supplier_app

FAULT = {"reason": "injected fault: service unavailable"}


def test_a_503_body_is_no_ledger() -> None:
    with pytest.raises(LedgerUnavailable, match="supplier: expected"):
        ledger_entries(FAULT, "orders", partner="supplier")
    with pytest.raises(LedgerUnavailable):
        ledger_entries({"orders": ["PO-1", "PO-2"]}, "orders", partner="supplier")
    assert ledger_entries({"orders": [{"po_number": "PO-1"}]}, "orders", partner="s") == [
        {"po_number": "PO-1"}
    ]


def test_entries_missing_fields_are_summarised_not_crashed_on() -> None:
    part = ledger_summary([{"status": "received", "lines": [{"sku": "BK"}, "junk"]}], [{}])
    assert part["supplier_orders"] == [
        {"po_number": None, "status": "received", "total": None, "currency": None, "lines": [["BK", None]],
         "created_at": None, "confirmed_at": None, "shipped_at": None, "expected_delivery": None}
    ]
    assert part["cmms_work_orders"][0]["external_ref"] is None


async def test_ledger_read_retries_through_503s_and_garbage() -> None:
    answers = iter(
        [
            httpx.Response(503, json=FAULT),
            httpx.Response(200, content=b'{"orders": [{"po_nu'),  # truncated body
            httpx.Response(200, json=FAULT),  # right status, wrong shape
            httpx.Response(200, json={"orders": [{"po_number": "PO-1"}]}),
        ]
    )
    transport = httpx.MockTransport(lambda request: next(answers))
    async with httpx.AsyncClient(transport=transport) as client:
        entries = await _read_ledger(client, "http://s/orders", "orders", partner="supplier")
    assert entries == [{"po_number": "PO-1"}]


async def test_a_supplier_that_always_answers_503_gives_a_reason_not_a_traceback(
    tmp_path: Path,
) -> None:
    app = create_supplier_app(tmp_path, secret="s", knobs=SupplierKnobs(error_rate=1.0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://supplier") as client:
        with pytest.raises(LedgerUnavailable, match="supplier: HTTP 503.*after 3 tries"):
            await _read_ledger(client, "/orders", "orders", partner="supplier", attempts=3)


def test_unreadable_ledger_fails_the_duplicates_outcome() -> None:
    summary = {
        "workflows": [],
        "decisions_by_policy": {},
        "cmms_work_orders": [],
        "failed_assets": [],
        "duplicates": 0,
        "ledger_errors": ["supplier: HTTP 503 (after 8 tries)"],
        "timeline": [],
    }
    assert expected_outcomes(summary, "plant")["zero_duplicates"] is False
    summary["ledger_errors"] = []
    assert expected_outcomes(summary, "plant")["zero_duplicates"] is True
