"""Handled partner callbacks in the state database (``orchestrator.intake.SeenEvents``' interface):
a supplier or CMMS replaying a callback to another web process is recognised there too."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from orchestrator.state.schema import callback_events as table

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB


class SqlSeenEvents:
    """Bounded memory of handled event ids (the oldest beyond ``capacity`` forgotten first)."""

    def __init__(self, db: StateDB, capacity: int = 100_000) -> None:
        self._db = db
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        if not isinstance(event_id, str) or len(event_id) > 200:
            return False
        with self._db.begin() as conn:
            found = conn.execute(select(table.c.seq).where(table.c.event_id == event_id)).first()
        return found is not None

    def __len__(self) -> int:
        with self._db.begin() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def add(self, event_id: str) -> None:
        with self._db.begin() as conn:
            conn.execute(
                self._db.insert(table)
                .values(event_id=event_id, at=time.time())
                .on_conflict_do_nothing()
            )
            newest = conn.execute(select(func.max(table.c.seq))).scalar_one()
            if newest is not None and newest > self._capacity:
                conn.execute(delete(table).where(table.c.seq <= newest - self._capacity))

    def close(self) -> None:
        """Nothing to close: the ``StateDB`` owns the connections."""
