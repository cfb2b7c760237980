"""A small persistent ledger for the reference servers: JSON documents in a SQLite file.

Each server keeps its records (orders, work orders, jobs, applied idempotency keys) in its own
file under the state directory, so a restarted server still knows every PO number it has seen.
One connection guarded by a lock: the servers are tiny and SQLite serialises writes anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_UPSERT = (
    "INSERT INTO docs (collection, key, seq, doc) VALUES (?, ?, "
    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM docs WHERE collection = ?), ?) "
    "ON CONFLICT (collection, key) DO UPDATE SET doc = excluded.doc"
)


class Ledger:
    """Collections of JSON documents keyed by a string; inserts are first-writer-wins."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS docs ("
            " collection TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,"
            " doc TEXT NOT NULL, PRIMARY KEY (collection, key))"
        )

    def insert_if_absent(
        self,
        collection: str,
        key: str,
        doc: dict[str, Any],
        *,
        also: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> tuple[dict[str, Any], bool]:
        """Store ``doc`` unless ``key`` exists; return the stored doc and whether it was new.

        ``also``: (collection, key, doc) written in the same transaction when ``doc`` is new, so a
        crash never leaves one without the others.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM docs WHERE collection = ? AND key = ?", (collection, key)
            ).fetchone()
            if row is not None:
                return json.loads(row[0]), False
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for c, k, d in ((collection, key, doc), *also):
                    self._db.execute(_UPSERT, (c, k, c, json.dumps(d)))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return doc, True

    def next_number(self, collection: str) -> int:
        """1 + the number of documents in the collection (for human-friendly ids)."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM docs WHERE collection = ?", (collection,)
            ).fetchone()
            return int(count) + 1

    def put(self, collection: str, key: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(_UPSERT, (collection, key, collection, json.dumps(doc)))

    def get(self, collection: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM docs WHERE collection = ? AND key = ?", (collection, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def all(self, collection: str) -> list[dict[str, Any]]:
        """Every document of the collection in insertion order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT doc FROM docs WHERE collection = ? ORDER BY seq", (collection,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
