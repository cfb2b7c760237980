"""Alarms in the state database: the loop raises and clears them, any web process acknowledges
and shelves them (``orchestrator.alarms.store.AlarmStore``'s interface).

Each change is one read-decide-write transaction, as in SQLite: on PostgreSQL it first takes a
transaction-scoped advisory lock (``ALARM_LOCK``), so two processes changing alarms run one after
the other (alarm ids are numbered in order, an acknowledgement never overwrites a clear).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Integer, String, case, cast, func, insert, select, text, update

from orchestrator.alarms.model import Action, Alarm, HistoryEntry
from orchestrator.alarms.store import Activation, _alarm
from orchestrator.state.schema import alarm_activations as activations
from orchestrator.state.schema import alarm_history as history
from orchestrator.state.schema import alarm_meta as meta
from orchestrator.state.schema import alarms as table

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB

#: The advisory lock key (PostgreSQL) that serialises alarm changes across processes.
ALARM_LOCK = 0x616C61726D  # "alarm"

_COLUMNS = (
    table.c.id, table.c.key, table.c.asset_id, table.c.source, table.c.priority, table.c.state,
    table.c.message, table.c.place, table.c.evidence, table.c.raised_at, table.c.changed_at,
    table.c.cleared_at, table.c.acked_at, table.c.acked_by, table.c.activations, table.c.shelved,
    table.c.suppressed, table.c.assignee,
)


def _histories(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[HistoryEntry, ...]]:
    out: dict[str, list[HistoryEntry]] = {}
    for chunk in range(0, len(ids), 500):
        part = list(ids[chunk : chunk + 500])
        rows = conn.execute(
            select(history.c.alarm_id, history.c.time, history.c.user_name, history.c.action,
                   history.c.comment, history.c.detail)
            .where(history.c.alarm_id.in_(part))
            .order_by(history.c.n)
        )
        for alarm_id, time, user, action, comment, detail in rows:
            out.setdefault(alarm_id, []).append(
                HistoryEntry(time=datetime.fromisoformat(time), user=user, action=Action(action),
                             comment=comment, detail=detail)
            )
    return {k: tuple(v) for k, v in out.items()}


class SqlTx:
    """What a change may do inside its transaction (``orchestrator.alarms.store.Tx``'s methods)."""

    def __init__(self, db: StateDB, conn: Connection) -> None:
        self._db = db
        self.conn = conn
        self.changed = False

    def new_id(self) -> str:
        last = self.conn.execute(select(func.coalesce(func.max(table.c.n), 0))).scalar_one()
        return f"ALM-{int(last) + 1}"

    def open_alarms(self) -> list[Alarm]:
        rows = self.conn.execute(select(*_COLUMNS).where(table.c.state != "cleared")).all()
        return [_alarm(tuple(row), ()) for row in rows]

    def get(self, alarm_id: str) -> Alarm | None:
        row = self.conn.execute(select(*_COLUMNS).where(table.c.id == alarm_id)).first()
        if row is None:
            return None
        return _alarm(tuple(row), _histories(self.conn, [alarm_id]).get(alarm_id, ()))

    def put(self, alarm: Alarm, entries: Sequence[HistoryEntry] = ()) -> None:
        values: dict[str, Any] = {
            "key": alarm.key,
            "asset_id": alarm.asset_id,
            "source": alarm.source.value,
            "priority": alarm.priority,
            "state": alarm.state.value,
            "message": alarm.message,
            "place": alarm.place.model_dump_json(),
            "evidence": json.dumps(alarm.evidence, default=str),
            "raised_at": alarm.raised_at.isoformat(),
            "changed_at": alarm.changed_at.isoformat(),
            "cleared_at": alarm.cleared_at.isoformat() if alarm.cleared_at else None,
            "acked_at": alarm.acked_at.isoformat() if alarm.acked_at else None,
            "acked_by": alarm.acked_by,
            "activations": alarm.activations,
            "shelved": alarm.shelved.model_dump_json() if alarm.shelved else None,
            "suppressed": alarm.suppressed,
            "assignee": alarm.assignee,
        }
        done = self.conn.execute(update(table).where(table.c.id == alarm.id).values(**values))
        if done.rowcount == 0:
            self.conn.execute(insert(table).values(id=alarm.id, **values))
        if entries:
            self.conn.execute(
                insert(history),
                [
                    {"alarm_id": alarm.id, "time": e.time.isoformat(), "user_name": e.user,
                     "action": e.action.value, "comment": e.comment, "detail": e.detail}
                    for e in entries
                ],
            )
        self.changed = True

    def activation(self, alarm: Alarm, time: datetime) -> None:
        self.conn.execute(
            insert(activations).values(
                key=alarm.key, asset_id=alarm.asset_id, alarm_id=alarm.id, time=time.isoformat(),
                priority=alarm.priority, line=alarm.place.line, annunciated=bool(alarm.annunciated),
            )
        )
        self.changed = True

    def observed(self, now: datetime) -> None:
        value = now.isoformat()
        statement = self._db.insert(meta).values(k="plant_now", v=value)
        statement = statement.on_conflict_do_update(
            index_elements=[meta.c.k],
            set_={"v": case((statement.excluded.v > meta.c.v, statement.excluded.v), else_=meta.c.v)},
        )
        self.conn.execute(statement)


class SqlAlarmStore:
    """Durable alarms, their histories and activations, shared by every process."""

    def __init__(self, db: StateDB) -> None:
        self._db = db
        self.path = None  # no file: the alarms live in the state database

    @contextmanager
    def change(self) -> Iterator[SqlTx]:
        """One read-decide-write transaction; other writers wait."""
        with self._db.begin() as conn:
            if self._db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ALARM_LOCK})
            tx = SqlTx(self._db, conn)
            yield tx
            if tx.changed:
                statement = self._db.insert(meta).values(k="version", v="1")
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[meta.c.k],
                        set_={"v": cast(cast(meta.c.v, Integer) + 1, String)},
                    )
                )

    def _meta(self, key: str) -> str | None:
        with self._db.begin() as conn:
            return conn.execute(select(meta.c.v).where(meta.c.k == key)).scalar_one_or_none()

    def version(self) -> int:
        value = self._meta("version")
        return int(value) if value else 0

    def plant_now(self) -> datetime | None:
        value = self._meta("plant_now")
        return datetime.fromisoformat(value) if value else None

    def open_alarms(self) -> list[Alarm]:
        with self._db.begin() as conn:
            return SqlTx(self._db, conn).open_alarms()

    def get(self, alarm_id: str) -> Alarm | None:
        with self._db.begin() as conn:
            return SqlTx(self._db, conn).get(alarm_id)

    def list(self, *, include_cleared: bool = True, limit: int = 500) -> list[Alarm]:
        query = select(*_COLUMNS)
        if not include_cleared:
            query = query.where(table.c.state != "cleared")
        query = query.order_by(table.c.changed_at.desc(), table.c.n.desc()).limit(limit)
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
            found = _histories(conn, [r[0] for r in rows])
        return [_alarm(tuple(row), found.get(row[0], ())) for row in rows]

    def activations(self, since: datetime | None = None) -> list[Activation]:
        query = select(
            activations.c.key, activations.c.asset_id, activations.c.time, activations.c.priority,
            activations.c.line, activations.c.annunciated,
        ).where(activations.c.time >= (since.isoformat() if since else "")).order_by(
            activations.c.time
        )
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        return [
            Activation((r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4], bool(r[5])))
            for r in rows
        ]

    def close(self) -> None:
        """Nothing to close: the ``StateDB`` owns the connections."""
