"""The loop's progress in the state database, one row per partition of the plant's assets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from orchestrator.progress import Progress
from orchestrator.state.schema import loop_progress as table

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB


class SqlProgressStore:
    """``orchestrator.progress.ProgressStore`` over the database (an upsert per save)."""

    def __init__(self, db: StateDB) -> None:
        self._db = db

    def load(self, partition: str, default_start: datetime) -> Progress:
        with self._db.begin() as conn:
            row = conn.execute(select(table.c.body).where(table.c.partition_id == partition)).first()
        if row is None:
            return Progress(sim_start=default_start)
        return Progress.from_dict(json.loads(row.body))

    def save(self, partition: str, progress: Progress) -> None:
        body = json.dumps(progress.to_dict(), default=str)
        now = datetime.now(UTC)
        statement = self._db.insert(table).values(
            partition_id=partition, body=body, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.partition_id], set_={"body": body, "updated_at": now}
        )
        with self._db.begin() as conn:
            conn.execute(statement)

    def partitions(self) -> list[str]:
        """Partitions with a saved record."""
        with self._db.begin() as conn:
            return sorted(conn.execute(select(table.c.partition_id)).scalars())
