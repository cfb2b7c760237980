"""Alarms on disk: SQLite in the state directory (``<state>/alarms.sqlite``).

The loop raises and clears alarms, the web UI (maybe another process) acknowledges and shelves
them, and ``autoops alarms`` reads the file while both run: every change is one ``BEGIN
IMMEDIATE`` transaction (read, decide, write), the journal is WAL so readers never wait, and a
``version`` counter tells the live board that something changed. ``path=None`` keeps it in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.alarms.model import (
    Action,
    Alarm,
    AlarmSource,
    AlarmState,
    HistoryEntry,
    Place,
    Shelving,
)

FILENAME = "alarms.sqlite"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alarms (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, "
    "key TEXT NOT NULL, asset_id TEXT NOT NULL, source TEXT NOT NULL, priority TEXT NOT NULL, "
    "state TEXT NOT NULL, message TEXT NOT NULL, place TEXT NOT NULL, evidence TEXT NOT NULL, "
    "raised_at TEXT NOT NULL, changed_at TEXT NOT NULL, cleared_at TEXT, acked_at TEXT, "
    "acked_by TEXT, activations INTEGER NOT NULL, shelved TEXT, suppressed TEXT NOT NULL, "
    "assignee TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS alarms_open ON alarms (key, state)",
    "CREATE TABLE IF NOT EXISTS history (n INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT "
    "NULL, time TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL, comment TEXT NOT NULL, "
    "detail TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS history_alarm ON history (alarm_id)",
    # One row per activation (a condition starting), for the alarm-rate KPIs.
    "CREATE TABLE IF NOT EXISTS activations (n INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT "
    "NULL, asset_id TEXT NOT NULL, alarm_id TEXT NOT NULL, time TEXT NOT NULL, priority TEXT NOT "
    "NULL, line TEXT NOT NULL, annunciated INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
)

_COLUMNS = (
    "id, key, asset_id, source, priority, state, message, place, evidence, raised_at, changed_at, "
    "cleared_at, acked_at, acked_by, activations, shelved, suppressed, assignee"
)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class Activation(tuple[str, str, datetime, str, str, bool]):
    """(key, asset_id, time, priority, line, annunciated) of one activation."""

    __slots__ = ()

    @property
    def key(self) -> str:
        return self[0]

    @property
    def asset_id(self) -> str:
        return self[1]

    @property
    def time(self) -> datetime:
        return self[2]

    @property
    def priority(self) -> str:
        return self[3]

    @property
    def line(self) -> str:
        return self[4]

    @property
    def annunciated(self) -> bool:
        return self[5]


class Tx:
    """What a change may do inside its transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.changed = False

    def new_id(self) -> str:
        row = self.db.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM alarms").fetchone()
        return f"ALM-{int(row[0])}"

    def open_alarms(self) -> list[Alarm]:
        """Alarms not yet cleared (acknowledged and cleared), without their histories."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM alarms WHERE state != ?", (AlarmState.CLEARED.value,)
        ).fetchall()
        return [_alarm(row, ()) for row in rows]

    def get(self, alarm_id: str) -> Alarm | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        return _alarm(row, _history(self.db, [alarm_id]).get(alarm_id, ())) if row else None

    def put(self, alarm: Alarm, entries: Sequence[HistoryEntry] = ()) -> None:
        """Write the alarm (new or changed) and append ``entries`` to its history."""
        self.db.execute(
            f"INSERT OR REPLACE INTO alarms (n, {_COLUMNS}) VALUES ("
            "(SELECT n FROM alarms WHERE id = ?), ?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                alarm.id,
                alarm.id,
                alarm.key,
                alarm.asset_id,
                alarm.source.value,
                alarm.priority,
                alarm.state.value,
                alarm.message,
                alarm.place.model_dump_json(),
                json.dumps(alarm.evidence, default=str),
                alarm.raised_at.isoformat(),
                alarm.changed_at.isoformat(),
                alarm.cleared_at.isoformat() if alarm.cleared_at else None,
                alarm.acked_at.isoformat() if alarm.acked_at else None,
                alarm.acked_by,
                alarm.activations,
                alarm.shelved.model_dump_json() if alarm.shelved else None,
                alarm.suppressed,
                alarm.assignee,
            ),
        )
        self.db.executemany(
            "INSERT INTO history (alarm_id, time, user, action, comment, detail) VALUES (?,?,?,?,?,?)",
            [
                (alarm.id, e.time.isoformat(), e.user, e.action.value, e.comment, e.detail)
                for e in entries
            ],
        )
        self.changed = True

    def observed(self, now: datetime) -> None:
        """The plant time conditions were last observed at (kept as the newest seen)."""
        self.db.execute(
            "INSERT INTO meta (k, v) VALUES ('plant_now', ?) ON CONFLICT(k) DO UPDATE SET "
            "v = MAX(v, excluded.v)",
            (now.isoformat(),),
        )

    def activation(self, alarm: Alarm, time: datetime) -> None:
        self.db.execute(
            "INSERT INTO activations (key, asset_id, alarm_id, time, priority, line, annunciated) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                alarm.key,
                alarm.asset_id,
                alarm.id,
                time.isoformat(),
                alarm.priority,
                alarm.place.line,
                int(alarm.annunciated),
            ),
        )
        self.changed = True


def _alarm(row: Sequence[Any], history: tuple[HistoryEntry, ...]) -> Alarm:
    return Alarm(
        id=row[0],
        key=row[1],
        asset_id=row[2],
        source=AlarmSource(row[3]),
        priority=row[4],
        state=AlarmState(row[5]),
        message=row[6],
        place=Place.model_validate_json(row[7]),
        evidence=json.loads(row[8]),
        raised_at=datetime.fromisoformat(row[9]),
        changed_at=datetime.fromisoformat(row[10]),
        cleared_at=_when(row[11]),
        acked_at=_when(row[12]),
        acked_by=row[13],
        activations=int(row[14]),
        shelved=Shelving.model_validate_json(row[15]) if row[15] else None,
        suppressed=row[16],
        assignee=row[17],
        history=history,
    )


def _history(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, tuple[HistoryEntry, ...]]:
    out: dict[str, list[HistoryEntry]] = {}
    for chunk in range(0, len(ids), 500):
        part = list(ids[chunk : chunk + 500])
        marks = ",".join("?" * len(part))
        for alarm_id, time, user, action, comment, detail in db.execute(
            f"SELECT alarm_id, time, user, action, comment, detail FROM history "
            f"WHERE alarm_id IN ({marks}) ORDER BY n",
            part,
        ):
            out.setdefault(alarm_id, []).append(
                HistoryEntry(
                    time=datetime.fromisoformat(time),
                    user=user,
                    action=Action(action),
                    comment=comment,
                    detail=detail,
                )
            )
    return {k: tuple(v) for k, v in out.items()}


class AlarmStore:
    """Durable alarms, their histories and activations."""

    def __init__(self, path: Path | None = None, *, read_only: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        elif read_only:
            self._db = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL: a commit per tick without an fsync each; still never corrupt.
            self._db.execute("PRAGMA synchronous=NORMAL")
        if not read_only:
            for statement in _SCHEMA:
                self._db.execute(statement)

    @contextmanager
    def change(self) -> Iterator[Tx]:
        """One read-decide-write transaction; other writers wait, readers do not."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            tx = Tx(self._db)
            try:
                yield tx
                if tx.changed:
                    self._db.execute(
                        "INSERT INTO meta (k, v) VALUES ('version', '1') ON CONFLICT(k) DO "
                        "UPDATE SET v = CAST(v AS INTEGER) + 1"
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def version(self) -> int:
        """A counter that grows with every change (the live board's cue to refresh)."""
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = 'version'").fetchone()
        return int(row[0]) if row else 0

    def open_alarms(self) -> list[Alarm]:
        """Alarms not yet cleared, without their histories (a cheap read)."""
        with self._lock:
            return Tx(self._db).open_alarms()

    def plant_now(self) -> datetime | None:
        """The newest plant time a condition was observed at (the KPIs' "now")."""
        with self._lock:
            row = self._db.execute("SELECT v FROM meta WHERE k = 'plant_now'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def get(self, alarm_id: str) -> Alarm | None:
        with self._lock:
            return Tx(self._db).get(alarm_id)

    def list(self, *, include_cleared: bool = True, limit: int = 500) -> list[Alarm]:
        """Alarms, newest change first, each with its history."""
        where = "" if include_cleared else "WHERE state != 'cleared'"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM alarms {where} ORDER BY changed_at DESC, n DESC LIMIT ?",
                (limit,),
            ).fetchall()
            history = _history(self._db, [r[0] for r in rows])
        return [_alarm(row, history.get(row[0], ())) for row in rows]

    def activations(self, since: datetime | None = None) -> list[Activation]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, asset_id, time, priority, line, annunciated FROM activations "
                "WHERE time >= ? ORDER BY time",
                ((since.isoformat() if since else ""),),
            ).fetchall()
        return [
            Activation((r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], bool(r[5])))
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["FILENAME", "Activation", "AlarmStore", "Tx"]
