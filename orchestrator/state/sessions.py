"""Web sessions in the state database: a user signed in on one web process is on every one."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from orchestrator.state.schema import web_sessions as table
from orchestrator.web.auth import Session

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB

#: A session's expiry moves forward at most this often (seconds).
_SLIDE_EVERY_S = 60.0


class SqlSessionStore:
    """``orchestrator.web.auth.SessionStore``'s interface over the database.

    Expiry is wall-clock time (``time.time``), the one clock every process shares; each use
    slides a session's expiry forward, as in memory. Expired rows are removed when a new
    session is made.
    """

    def __init__(
        self, db: StateDB, *, idle_s: float = 8 * 3600, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._idle_s = idle_s
        self._clock = clock

    def new(self, user: str | None = None) -> Session:
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            user=user,
            expires=now + self._idle_s,
        )
        with self._db.begin() as conn:
            conn.execute(delete(table).where(table.c.expires < now))
            conn.execute(
                insert(table).values(
                    id=session.id, csrf=session.csrf, user_name=user, expires=session.expires
                )
            )
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 64:
            return None
        now = self._clock()
        with self._db.begin() as conn:
            row = conn.execute(
                select(table.c.csrf, table.c.user_name, table.c.expires).where(
                    table.c.id == session_id
                )
            ).first()
            if row is None:
                return None
            if row.expires < now:
                conn.execute(delete(table).where(table.c.id == session_id))
                return None
            expires = now + self._idle_s
            if expires - row.expires > _SLIDE_EVERY_S:  # not a write on every request
                conn.execute(
                    update(table).where(table.c.id == session_id).values(expires=expires)
                )
            else:
                expires = row.expires
        return Session(id=session_id, csrf=row.csrf, user=row.user_name, expires=expires)

    def drop(self, session_id: str | None) -> None:
        if not session_id:
            return
        with self._db.begin() as conn:
            conn.execute(delete(table).where(table.c.id == session_id))
