"""``State``: each store from the state database when one is configured, else from files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.progress import DEFAULT_PARTITION, FileProgressStore, ProgressStore
from orchestrator.state.db import StateDB

if TYPE_CHECKING:
    from agents.runtime.checkpoint import CheckpointStore
    from orchestrator.alarms import AlarmStore
    from orchestrator.config import PlantConfig
    from orchestrator.intake import SeenEvents
    from orchestrator.state.alarms import SqlAlarmStore
    from orchestrator.state.decisions import SqlDecisionStore
    from orchestrator.state.intake import SqlSeenEvents
    from orchestrator.state.sessions import SqlSessionStore
    from orchestrator.state.stock import SqlStockStore
    from orchestrator.state.tokens import SqlTokenStore
    from orchestrator.web.auth import SessionStore
    from orchestrator.web.tokens import TokenStore
    from policies.store import DecisionStore

__all__ = ["DEFAULT_PARTITION", "State", "decision_log", "open_state"]


class State:
    """The stores of one process. ``db`` is the shared database, or ``None`` (files)."""

    def __init__(self, state_dir: Path, db: StateDB | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.db = db

    @property
    def shared(self) -> bool:
        """True when the stores live in a database other processes may share."""
        return self.db is not None

    def sessions(self) -> SessionStore | SqlSessionStore:
        """Web sessions: in this process's memory, or in the database."""
        if self.db is None:
            from orchestrator.web.auth import SessionStore

            return SessionStore()
        return self.db.session_store()

    def tokens(
        self, *, clock: Callable[[], datetime] | None = None
    ) -> TokenStore | SqlTokenStore:
        """API tokens; ``clock`` stamps their created / used / revoked times (default: UTC now)."""
        when = {"clock": clock} if clock is not None else {}
        if self.db is None:
            from orchestrator.web.tokens import TokenStore

            return TokenStore(self.state_dir / "api-tokens.sqlite", **when)
        return self.db.token_store(**when)

    @property
    def stock_path(self) -> Path | None:
        """The stock ledger's JSON file when there is no database (give it to ``StockLedger``)."""
        return self.state_dir / "stock-ledger.json" if self.db is None else None

    def stock(self, on_hand: dict[str, int] | None = None) -> SqlStockStore | None:
        """The shared stock books (seeded with ``on_hand`` for unknown SKUs), or ``None``."""
        return None if self.db is None else self.db.stock_store(on_hand)

    def decisions(self) -> DecisionStore | SqlDecisionStore:
        if self.db is None:
            from policies.store import DecisionStore

            return DecisionStore(state=self.state_dir)
        return self.db.decision_store()

    def progress(self) -> ProgressStore:
        if self.db is None:
            return FileProgressStore(self.state_dir)
        return self.db.progress_store()

    def alarms(self) -> AlarmStore | SqlAlarmStore:
        """Alarms: ``alarms.sqlite`` in the state directory, or the database."""
        if self.db is None:
            from orchestrator.alarms import FILENAME, AlarmStore

            return AlarmStore(self.state_dir / FILENAME)
        return self.db.alarm_store()

    def seen_events(self) -> SeenEvents | SqlSeenEvents:
        """Ids of handled partner callbacks: ``intake-seen.sqlite``, or the database."""
        if self.db is None:
            from orchestrator.intake import SeenEvents

            return SeenEvents(path=self.state_dir / "intake-seen.sqlite")
        return self.db.seen_events()

    def checkpoints(self) -> CheckpointStore:
        if self.db is None:
            from agents.runtime.checkpoint import FileCheckpointStore

            return FileCheckpointStore(self.state_dir / "checkpoints")
        return self.db.checkpoint_store()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def decision_log(
    state_dir: Path | None = None, environ: Mapping[str, str] | None = None
) -> DecisionStore | SqlDecisionStore:
    """The decision log for a command without a plant file (``autoops decisions``, ``trace``):
    the database in ``AUTOOPS_STATE_URL`` when set, else the state directory's SQLite log."""
    url = (os.environ if environ is None else environ).get("AUTOOPS_STATE_URL")
    if url:
        from orchestrator.state.decisions import SqlDecisionStore

        return SqlDecisionStore(StateDB(url), close_db=True)
    from policies.store import DecisionStore

    return DecisionStore(state=state_dir)


def open_state(config: PlantConfig, *, state_dir: Path | None = None) -> State:
    """The stores for ``config``: its ``[state] url`` database (migrated), else files in
    ``state_dir`` (default: the configuration's ``state_dir``)."""
    directory = Path(state_dir if state_dir is not None else config.state_dir)
    url = config.state.url
    return State(directory, StateDB(url) if url else None)
