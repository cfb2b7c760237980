"""Personal API tokens in the state database (``orchestrator.web.tokens.TokenStore``'s interface)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from orchestrator.state.schema import api_tokens as table
from orchestrator.web.tokens import PREFIX, TokenInfo, _digest, token_id

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB

_INFO = (
    table.c.id, table.c.user_name, table.c.name, table.c.roles, table.c.created_at,
    table.c.revoked_at, table.c.last_used_at,
)


def _info(row: Any) -> TokenInfo:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return TokenInfo(
        id=row.id,
        user=row.user_name,
        name=row.name,
        roles=tuple(r for r in row.roles.split(",") if r),
        created_at=datetime.fromisoformat(row.created_at),
        revoked_at=when(row.revoked_at),
        last_used_at=when(row.last_used_at),
    )


class SqlTokenStore:
    """Create, list, revoke and check personal API tokens; only their SHA-256 is stored."""

    def __init__(
        self, db: StateDB, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._db = db
        self._clock = clock

    def create(self, user: str, name: str, roles: tuple[str, ...]) -> tuple[str, TokenInfo]:
        public = secrets.token_hex(6)
        token = f"{PREFIX}_{public}_{secrets.token_urlsafe(32)}"
        now = self._clock()
        with self._db.begin() as conn:
            conn.execute(
                insert(table).values(
                    id=public, user_name=user, name=name, roles=",".join(roles),
                    digest=_digest(token), created_at=now.isoformat(),
                )
            )
        return token, TokenInfo(public, user, name, roles, now)

    def of(self, user: str) -> list[TokenInfo]:
        with self._db.begin() as conn:
            rows = conn.execute(
                select(*_INFO).where(table.c.user_name == user).order_by(table.c.created_at.desc())
            ).all()
        return [_info(row) for row in rows]

    def revoke(self, user: str, public_id: str) -> bool:
        with self._db.begin() as conn:
            done = conn.execute(
                update(table)
                .where(
                    table.c.id == public_id,
                    table.c.user_name == user,
                    table.c.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock().isoformat())
            )
        return done.rowcount == 1

    def check(self, token: str) -> TokenInfo | None:
        public = token_id(token)
        if public is None or len(public) > 32:
            return None
        with self._db.begin() as conn:
            row = conn.execute(select(*_INFO, table.c.digest).where(table.c.id == public)).first()
            if row is None or not hmac.compare_digest(row.digest, _digest(token)) or row.revoked_at:
                return None
            conn.execute(
                update(table).where(table.c.id == public).values(
                    last_used_at=self._clock().isoformat()
                )
            )
        return _info(row)

    def close(self) -> None:
        """Nothing to close: the ``StateDB`` owns the connections."""
