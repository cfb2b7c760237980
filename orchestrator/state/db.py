"""``StateDB``: one SQLAlchemy engine on the state database, migrated when opened."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from agents.errors import ServiceUnavailableError
from orchestrator.state.url import check_url, config_error, default_url, engine_url, redact_url

if TYPE_CHECKING:
    from orchestrator.state.alarms import SqlAlarmStore
    from orchestrator.state.checkpoints import SqlCheckpointStore
    from orchestrator.state.decisions import SqlDecisionStore
    from orchestrator.state.intake import SqlSeenEvents
    from orchestrator.state.progress import SqlProgressStore
    from orchestrator.state.sessions import SqlSessionStore
    from orchestrator.state.stock import SqlStockStore
    from orchestrator.state.tokens import SqlTokenStore

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class StateUnavailable(ServiceUnavailableError):
    """The state database cannot be reached or refused a statement (the URL shown redacted)."""


def _reason(exc: BaseException, url: str) -> str:
    """The first line of a driver error, with the URL's password scrubbed if it slipped in."""
    from sqlalchemy.engine import make_url

    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL has been refused already
        password = None
    return text.replace(str(password), "***") if password else text


class StateDB:
    """The shared state database. Thread-safe (a connection pool); picklable as its URL.

    Each ``*_store`` method returns a store object over this one engine; the stores hold no
    state of their own, so any number of processes may open the same database.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        try:
            check_url(url)
        except ValueError as exc:
            raise config_error(url, exc) from None
        self.url = url
        self.engine: Engine = self._engine(url)
        if migrate:
            self.migrate()

    @classmethod
    def for_dir(cls, state_dir: Path) -> StateDB:
        """SQLite in ``state_dir`` (``state.sqlite``): the embedded default's database."""
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        return cls(default_url(state_dir))

    @staticmethod
    def _engine(url: str) -> Engine:
        target = engine_url(url)
        if target.startswith("sqlite"):
            engine = create_engine(target, connect_args={"timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                # Let SQLAlchemy emit BEGIN itself (below), so a write transaction takes the
                # database's write lock at its start: two processes reserving stock serialise.
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _begin(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return create_engine(target, pool_pre_ping=True)

    def __repr__(self) -> str:
        return f"StateDB({redact_url(self.url)!r})"

    # Ray ships stores to actors on other nodes: send the URL, open the engine there.
    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.url = state["url"]
        self.engine = self._engine(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT (it has ``on_conflict_do_nothing`` / ``on_conflict_do_update``)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        return dialect_insert(table)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is there)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; database errors become ``StateUnavailable`` with a redacted URL."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StateUnavailable(
                f"state database {redact_url(self.url)}: {_reason(exc, self.url)}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    # ---- the stores -----------------------------------------------------------------------
    def session_store(self, *, idle_s: float = 8 * 3600) -> SqlSessionStore:
        from orchestrator.state.sessions import SqlSessionStore

        return SqlSessionStore(self, idle_s=idle_s)

    def token_store(self, **kwargs: Any) -> SqlTokenStore:
        from orchestrator.state.tokens import SqlTokenStore

        return SqlTokenStore(self, **kwargs)

    def stock_store(self, on_hand: dict[str, int] | None = None) -> SqlStockStore:
        from orchestrator.state.stock import SqlStockStore

        return SqlStockStore(self, on_hand)

    def decision_store(self) -> SqlDecisionStore:
        from orchestrator.state.decisions import SqlDecisionStore

        return SqlDecisionStore(self)

    def progress_store(self) -> SqlProgressStore:
        from orchestrator.state.progress import SqlProgressStore

        return SqlProgressStore(self)

    def alarm_store(self) -> SqlAlarmStore:
        from orchestrator.state.alarms import SqlAlarmStore

        return SqlAlarmStore(self)

    def seen_events(self) -> SqlSeenEvents:
        from orchestrator.state.intake import SqlSeenEvents

        return SqlSeenEvents(self)

    def checkpoint_store(self) -> SqlCheckpointStore:
        from orchestrator.state.checkpoints import SqlCheckpointStore

        return SqlCheckpointStore(self)
