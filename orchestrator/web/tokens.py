"""Personal API tokens: what the CLI signs with (``autoops approvals approve|reject|resolve``).

A person creates a token in the web UI (Tokens), sees it once, and revokes it there. Only its
SHA-256 is stored (tokens are 256 random bits, so a fast hash is enough: nothing to guess), with
the roles it may use: a subset of the person's roles when it was made, narrowed again to the roles
they still hold each time it is used. A request with ``Authorization: Bearer <token>`` acts as that
person with those roles, through the same routes and checks as the web UI.

The store is SQLite in the state directory (``<state>/api-tokens.sqlite``); ``path=None`` keeps it
in memory (tests, a UI without state). Tokens never reach a log: only their short public id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "aot"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    name: str
    roles: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id(token: str) -> str | None:
    """The public id inside ``aot_<id>_<secret>``, or ``None`` if it is not shaped like one."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


class TokenStore:
    """Create, list, revoke and check personal API tokens; the clock is injected for tests."""

    def __init__(
        self, path: Path | None = None, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, user TEXT NOT NULL, "
                "name TEXT NOT NULL, roles TEXT NOT NULL, digest TEXT NOT NULL, created_at TEXT "
                "NOT NULL, revoked_at TEXT, last_used_at TEXT)"
            )

    def create(self, user: str, name: str, roles: tuple[str, ...]) -> tuple[str, TokenInfo]:
        """A new token for ``user``: the secret (shown once, never stored) and its record."""
        public = secrets.token_hex(6)
        token = f"{PREFIX}_{public}_{secrets.token_urlsafe(32)}"
        now = self._clock()
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO tokens (id, user, name, roles, digest, created_at) VALUES (?,?,?,?,?,?)",
                (public, user, name, ",".join(roles), _digest(token), now.isoformat()),
            )
        return token, TokenInfo(public, user, name, roles, now)

    def of(self, user: str) -> list[TokenInfo]:
        """``user``'s tokens, newest first, revoked ones included (the record stays)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, user, name, roles, created_at, revoked_at, last_used_at FROM tokens "
                "WHERE user = ? ORDER BY created_at DESC",
                (user,),
            ).fetchall()
        return [self._info(row) for row in rows]

    def revoke(self, user: str, public_id: str) -> bool:
        """Revoke one of ``user``'s own live tokens; ``False`` if there is no such token."""
        with self._lock, self._db:
            done = self._db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND user = ? AND revoked_at IS NULL",
                (self._clock().isoformat(), public_id, user),
            )
        return done.rowcount == 1

    def check(self, token: str) -> TokenInfo | None:
        """The live token's record, or ``None`` (unknown, malformed or revoked)."""
        public = token_id(token)
        if public is None:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT id, user, name, roles, created_at, revoked_at, last_used_at, digest "
                "FROM tokens WHERE id = ?",
                (public,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[7], _digest(token)) or row[5]:
                return None
            with self._db:
                self._db.execute(
                    "UPDATE tokens SET last_used_at = ? WHERE id = ?",
                    (self._clock().isoformat(), public),
                )
        return self._info(row[:7])

    @staticmethod
    def _info(row: tuple[str, ...]) -> TokenInfo:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return TokenInfo(
            id=row[0],
            user=row[1],
            name=row[2],
            roles=tuple(r for r in row[3].split(",") if r),
            created_at=datetime.fromisoformat(row[4]),
            revoked_at=when(row[5]),
            last_used_at=when(row[6]),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["PREFIX", "TokenInfo", "TokenStore", "token_id"]
