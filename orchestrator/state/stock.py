"""Stock reservations in the state database: workers on many machines share one set of books.

``SqlStockStore`` is the ``workflows.common.StockStore`` a ``StockLedger`` delegates to. Every
change is one transaction keyed by its reference (workflow id / PO number) in ``stock_moves``:

* the move row is inserted first; a second call with the same reference (a retried activity, or
  the same reservation made by another worker) conflicts on the key and returns what the first
  one booked — on PostgreSQL the second insert waits for the first transaction, then sees it;
* each SKU's level is read ``FOR UPDATE`` (a row lock on PostgreSQL; SQLite transactions start
  with ``BEGIN IMMEDIATE`` and so run one at a time), so two workers reserving the last parts of a
  SKU never both get them: stock never goes below zero.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.state.schema import stock_levels as levels
from orchestrator.state.schema import stock_moves as moves
from policies.models import PartLine

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB


class SqlStockStore:
    """On-hand stock per SKU and keyed reservations, receipts and issues, in the database.

    ``on_hand`` seeds SKUs the database does not know yet (a level already there is kept: a
    restarted worker does not reset the books).
    """

    def __init__(self, db: StateDB, on_hand: Mapping[str, int] | None = None) -> None:
        self._db = db
        if on_hand:
            with db.begin() as conn:
                conn.execute(
                    db.insert(levels).on_conflict_do_nothing(),
                    [{"sku": sku, "on_hand": int(qty)} for sku, qty in on_hand.items()],
                )

    # ---- reading ---------------------------------------------------------------------------
    def levels(self) -> dict[str, int]:
        """Free stock per SKU."""
        with self._db.begin() as conn:
            return {row.sku: row.on_hand for row in conn.execute(select(levels))}

    def moves(self, kind: str) -> dict[str, list[dict[str, Any]]]:
        """Booked moves of one kind (``reservation``, ``receipt``, ``issue``) by reference."""
        with self._db.begin() as conn:
            rows = conn.execute(select(moves.c.ref, moves.c.lines).where(moves.c.kind == kind))
            return {row.ref: json.loads(row.lines) for row in rows}

    # ---- changing (synchronous; the async twins run these in a thread) ---------------------
    def _claim(self, conn: Connection, kind: str, ref: str) -> list[dict[str, Any]] | None:
        """Insert the move's key; ``None`` if new, else the lines the earlier move booked."""
        try:
            with conn.begin_nested():
                conn.execute(insert(moves).values(kind=kind, ref=ref, lines="[]"))
            return None
        except IntegrityError:
            row = conn.execute(
                select(moves.c.lines).where(moves.c.kind == kind, moves.c.ref == ref)
            ).first()
            return json.loads(row.lines) if row else []

    def _level(self, conn: Connection, sku: str) -> int:
        row = conn.execute(
            select(levels.c.on_hand).where(levels.c.sku == sku).with_for_update()
        ).first()
        if row is None:
            conn.execute(
                self._db.insert(levels).on_conflict_do_nothing().values(sku=sku, on_hand=0)
            )
            row = conn.execute(
                select(levels.c.on_hand).where(levels.c.sku == sku).with_for_update()
            ).first()
        return int(row.on_hand) if row else 0

    def _set(self, conn: Connection, sku: str, value: int) -> None:
        conn.execute(update(levels).where(levels.c.sku == sku).values(on_hand=value))

    def _book(self, conn: Connection, kind: str, ref: str, lines: list[dict[str, Any]]) -> None:
        conn.execute(
            update(moves)
            .where(moves.c.kind == kind, moves.c.ref == ref)
            .values(lines=json.dumps(lines))
        )

    def reserve_now(self, ref: str, lines: Sequence[PartLine]) -> dict[str, int]:
        """Reserve what is on hand for ``ref``; returns quantity taken per SKU (same on repeat)."""
        with self._db.begin() as conn:
            known = self._claim(conn, "reservation", ref)
            if known is None:
                known = []
                for line in sorted(lines, key=lambda ln: ln.sku):  # one lock order: no deadlock
                    have = self._level(conn, line.sku)
                    qty = min(max(have, 0), line.quantity)
                    self._set(conn, line.sku, have - qty)
                    known.append({"sku": line.sku, "quantity": qty})
                self._book(conn, "reservation", ref, known)
        return {str(t["sku"]): int(t["quantity"]) for t in known}

    def receive_now(self, ref: str, lines: Sequence[PartLine]) -> bool:
        """Book a receipt once per ``ref``; False when it had already been booked."""
        with self._db.begin() as conn:
            if self._claim(conn, "receipt", ref) is not None:
                return False
            for line in sorted(lines, key=lambda ln: ln.sku):
                self._set(conn, line.sku, self._level(conn, line.sku) + line.quantity)
            self._book(conn, "receipt", ref, [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines])
        return True

    def issue_now(self, ref: str, lines: Sequence[PartLine]) -> bool:
        """``ref`` used ``lines``: its reservation is consumed, the rest leaves the free stock."""
        with self._db.begin() as conn:
            if self._claim(conn, "issue", ref) is not None:
                return False
            row = conn.execute(
                select(moves.c.lines).where(moves.c.kind == "reservation", moves.c.ref == ref)
            ).first()
            held: dict[str, int] = {}
            if row is not None:
                held = {str(t["sku"]): int(t["quantity"]) for t in json.loads(row.lines)}
                conn.execute(delete(moves).where(moves.c.kind == "reservation", moves.c.ref == ref))
            change: dict[str, int] = {}
            for line in lines:
                from_reservation = min(held.get(line.sku, 0), line.quantity)
                held[line.sku] = held.get(line.sku, 0) - from_reservation
                rest = line.quantity - from_reservation
                change[line.sku] = change.get(line.sku, 0) - rest
            for sku, left in held.items():  # reserved but not used: back to the free stock
                if left > 0:
                    change[sku] = change.get(sku, 0) + left
            for sku in sorted(change):
                self._set(conn, sku, max(0, self._level(conn, sku) + change[sku]))
            self._book(conn, "issue", ref, [{"sku": ln.sku, "quantity": ln.quantity} for ln in lines])
        return True

    # ---- workflows.common.StockStore --------------------------------------------------------
    async def reserve(self, ref: str, lines: tuple[PartLine, ...]) -> dict[str, int]:
        return await asyncio.to_thread(self.reserve_now, ref, lines)

    async def receive(self, ref: str, lines: tuple[PartLine, ...]) -> bool:
        return await asyncio.to_thread(self.receive_now, ref, lines)

    async def issue(self, ref: str, lines: tuple[PartLine, ...]) -> bool:
        return await asyncio.to_thread(self.issue_now, ref, lines)
