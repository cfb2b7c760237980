"""Agent checkpoints in the state database: a store every Ray node reaches over the network.

``SqlCheckpointStore`` implements ``agents.runtime.checkpoint.CheckpointStore``. It pickles as
its ``StateDB`` (the URL), so the one store object handed to the fleet opens its own connection
pool in each actor's process, on whichever node Ray placed (or restarted) it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from agents.errors import InputError
from orchestrator.state.schema import agent_checkpoints as table
from orchestrator.state.url import redact_url

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB


class SqlCheckpointStore:
    """Key -> JSON record; a save is one upsert (a reader sees the old or the new record)."""

    def __init__(self, db: StateDB) -> None:
        self._db = db

    def __repr__(self) -> str:
        return f"SqlCheckpointStore({redact_url(self._db.url)!r})"

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        body = json.dumps(record, separators=(",", ":"), allow_nan=True)
        statement = self._db.insert(table).values(key=key, body=body)
        statement = statement.on_conflict_do_update(index_elements=[table.c.key], set_={"body": body})
        with self._db.begin() as conn:
            conn.execute(statement)

    def load(self, key: str) -> dict[str, Any] | None:
        with self._db.begin() as conn:
            row = conn.execute(select(table.c.body).where(table.c.key == key)).first()
        if row is None:
            return None
        try:
            record = json.loads(row.body)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"checkpoint {key!r} in the state database is not valid JSON ({exc.msg}); delete "
                "its row in agent_checkpoints to start this asset's baseline anew"
            ) from exc
        if not isinstance(record, dict):
            raise InputError(
                f"checkpoint {key!r} in the state database must hold a JSON object, found "
                f"{type(record).__name__}"
            )
        return record

    def delete(self, key: str) -> None:
        with self._db.begin() as conn:
            conn.execute(delete(table).where(table.c.key == key))

    def keys(self) -> list[str]:
        """Keys present; for tools and tests."""
        with self._db.begin() as conn:
            return sorted(conn.execute(select(table.c.key)).scalars())
