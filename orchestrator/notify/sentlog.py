"""The durable sent-log and digest queue of notifications (SQLite in the state directory).

One row per (workflow id, run id, event, recipient): a notification activity checks it before
sending and writes it right after, so a retried activity, a restarted worker or a replayed
workflow sends nothing twice. The window between a send and its row (a crash in between) can
repeat one message; mails carry a Message-ID and webhooks an ``Idempotency-Key`` derived from the
same key so a receiver can drop that repeat.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    key TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    event TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,          -- sent | digest (queued in a digest)
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_recipient_at ON sent (recipient, status, at);
CREATE TABLE IF NOT EXISTS digest (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS digest_pending ON digest (recipient, sent_at);
"""


@dataclass(frozen=True)
class Queued:
    id: int
    recipient: str
    subject: str
    body: str
    link: str
    at: datetime


def idempotency_key(workflow_id: str, run_id: str, event: str, recipient: str) -> str:
    return f"{workflow_id}/{run_id}/{event}/{recipient}"


class SentLog:
    """What went to whom. ``path=None`` keeps it in memory (tests, a process without a state dir)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def done(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM sent WHERE key = ?", (key,)).fetchone() is not None

    def record(self, key: str, *, workflow_id: str, run_id: str, event: str, recipient: str,
               status: str, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO sent (key, workflow_id, run_id, event, recipient, status, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, workflow_id, run_id, event, recipient, status, at.isoformat()),
            )

    def sent_since(self, recipient: str, since: datetime) -> int:
        """Messages that went to ``recipient`` one by one since ``since``."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM sent WHERE recipient = ? AND status = 'sent' AND at >= ?",
                (recipient, since.isoformat()),
            ).fetchone()
        return int(row[0])

    def queue(self, key: str, *, recipient: str, subject: str, body: str, link: str, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO digest (key, recipient, subject, body, link, at) VALUES (?, ?, ?, ?, ?, ?)",
                (key, recipient, subject, body, link, at.isoformat()),
            )

    def holding(self, recipient: str) -> bool:
        """Whether a digest is being gathered for ``recipient`` (new messages join it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM digest WHERE recipient = ? AND sent_at IS NULL LIMIT 1", (recipient,)
            ).fetchone()
        return row is not None

    def due(self, before: datetime) -> dict[str, list[Queued]]:
        """Pending digest items per recipient whose oldest item is older than ``before``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, recipient, subject, body, link, at FROM digest WHERE sent_at IS NULL "
                "AND recipient IN (SELECT recipient FROM digest WHERE sent_at IS NULL GROUP BY recipient "
                "HAVING MIN(at) <= ?) ORDER BY id",
                (before.isoformat(),),
            ).fetchall()
        out: dict[str, list[Queued]] = {}
        for id_, recipient, subject, body, link, at in rows:
            out.setdefault(recipient, []).append(
                Queued(id_, recipient, subject, body, link, datetime.fromisoformat(at))
            )
        return out

    def claim(self, ids: list[int], at: datetime) -> bool:
        """Take these digest items for sending; False when another worker took them first."""
        with self._lock:
            cur = self._db.executemany(
                "UPDATE digest SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                [(f"sending {at.isoformat()}", i) for i in ids],
            )
            return cur.rowcount == len(ids)

    def release(self, ids: list[int]) -> None:
        """Give claimed items back (the send failed; the next flush tries again)."""
        with self._lock:
            self._db.executemany(
                "UPDATE digest SET sent_at = NULL WHERE id = ? AND sent_at LIKE 'sending %'", [(i,) for i in ids]
            )

    def digest_sent(self, recipient: str, ids: list[int], at: datetime) -> None:
        """Mark one recipient's digest items sent; the digest counts as one message in its window."""
        with self._lock:
            self._db.executemany("UPDATE digest SET sent_at = ? WHERE id = ?", [(at.isoformat(), i) for i in ids])
            self._db.execute(
                "INSERT OR IGNORE INTO sent (key, workflow_id, run_id, event, recipient, status, at) "
                "VALUES (?, '', '', 'digest', ?, 'sent', ?)",
                (f"digest/{min(ids)}/{recipient}", recipient, at.isoformat()),
            )

    def rows(self) -> list[dict[str, str]]:
        """Every sent-log row (for tests and diagnosis)."""
        with self._lock:
            cur = self._db.execute("SELECT key, workflow_id, run_id, event, recipient, status, at FROM sent ORDER BY at")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
