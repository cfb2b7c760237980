"""Stock reservations in the state database: shared by every worker, never oversold."""

from __future__ import annotations

import asyncio
import threading

from orchestrator.state import StateDB
from policies.models import PartLine
from workflows.common import StockLedger


def lines(**qty: int) -> tuple[PartLine, ...]:
    return tuple(PartLine(sku=sku.replace("_", "-"), quantity=q) for sku, q in qty.items())


async def test_a_reservation_made_through_one_ledger_is_seen_by_another(state_url: str) -> None:
    db_a, db_b = StateDB(state_url), StateDB(state_url)
    try:
        worker_a = StockLedger(store=db_a.stock_store({"BRG": 3, "SEAL": 1}))
        # The second worker starts with its own idea of the stock: the database's books win.
        worker_b = StockLedger(store=db_b.stock_store({"BRG": 3, "SEAL": 1}))
        first = await worker_a.reserve("maint:s:m1", lines(BRG=2, SEAL=2))
        assert [(ln.sku, ln.quantity) for ln in first.reserved] == [("BRG", 2), ("SEAL", 1)]
        assert [(ln.sku, ln.quantity) for ln in first.missing] == [("SEAL", 1)]
        # The same reference through the other worker (a retried activity): the same answer.
        assert await worker_b.reserve("maint:s:m1", lines(BRG=2, SEAL=2)) == first
        second = await worker_b.reserve("maint:s:m2", lines(BRG=2))
        assert [(ln.sku, ln.quantity) for ln in second.reserved] == [("BRG", 1)]
        assert db_a.stock_store().levels() == {"BRG": 0, "SEAL": 0}
        # A receipt booked on one worker, once; parts used on the other release the rest.
        assert await worker_a.receive("po:s:BRG:1", lines(BRG=4))
        assert not await worker_b.receive("po:s:BRG:1", lines(BRG=4))
        assert await worker_b.issue("maint:s:m1", lines(BRG=1))  # reserved 2, used 1, SEAL unused
        assert not await worker_a.issue("maint:s:m1", lines(BRG=1))
        assert db_b.stock_store().levels() == {"BRG": 5, "SEAL": 1}
        assert set(db_b.stock_store().moves("reservation")) == {"maint:s:m2"}
    finally:
        db_a.close()
        db_b.close()


def test_concurrent_reservations_never_oversell(state_url: str) -> None:
    """Eight workers on two connection pools race for five bearings: five get one each."""
    dbs = [StateDB(state_url), StateDB(state_url)]
    dbs[0].stock_store({"BRG": 5})
    stores = [db.stock_store() for db in dbs]
    start = threading.Barrier(8)
    got: dict[str, int] = {}

    def worker(n: int) -> None:
        ledger = StockLedger(store=stores[n % 2])
        start.wait()
        for attempt in range(2):  # each reserves twice under one key: idempotent
            check = asyncio.run(ledger.reserve(f"maint:s:m{n}", lines(BRG=1)))
            taken = sum(ln.quantity for ln in check.reserved)
            assert got.setdefault(f"maint:s:m{n}", taken) == taken, attempt

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not any(t.is_alive() for t in threads)
        assert len(got) == 8
        assert sorted(got.values()) == [0, 0, 0, 1, 1, 1, 1, 1]
        assert stores[1].levels() == {"BRG": 0}
        assert len(stores[0].moves("reservation")) == 8
    finally:
        for db in dbs:
            db.close()


async def test_the_json_ledger_is_still_the_default(tmp_path) -> None:
    path = tmp_path / "stock-ledger.json"
    ledger = StockLedger({"BRG": 1}, path=path)
    await ledger.reserve("maint:s:m1", lines(BRG=1))
    assert StockLedger(path=path).on_hand == {"BRG": 0}
