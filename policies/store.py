"""The decision log: append-only SQLite in the state directory.

Decisions are never updated or deleted (triggers refuse it, so a bug elsewhere cannot rewrite
history). What becomes known later — the trace id, the workflow a decision started, how that
workflow ended (one result row per workflow run) — is appended beside it and merged in when reading. Decision ids are deterministic, so storing the same
decision twice (a replayed stream) keeps one row.

State directory: the ``state_dir`` argument, else ``$AUTOOPS_STATE_DIR``, else ``.autoops``.
``DecisionLog`` is the interface; the orchestrator's shared state database has its own
implementation (``orchestrator.state``) for several processes writing one log.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from agents.errors import InputError
from policies.models import ActionResult, Decision

DB_NAME = "decisions.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id    TEXT NOT NULL UNIQUE,
    time           TEXT NOT NULL,
    site           TEXT NOT NULL,
    asset_id       TEXT,
    policy_id      TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    body           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_asset ON decisions (asset_id, time);
CREATE INDEX IF NOT EXISTS decisions_policy ON decisions (policy_id, time);
CREATE TABLE IF NOT EXISTS decision_links (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL REFERENCES decisions (decision_id),
    time        TEXT NOT NULL,
    trace_id    TEXT,
    workflow_id TEXT
);
CREATE TABLE IF NOT EXISTS decision_results (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL REFERENCES decisions (decision_id),
    workflow_id TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (workflow_id, run_id)
);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only: decisions are never updated'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'the decision log is append-only: decisions are never deleted'); END;
"""


class DecisionLog(Protocol):
    """What the loop and the tools need of a decision log (``DecisionStore`` is one)."""

    def append(self, decisions: Iterable[Decision]) -> int: ...

    def link(
        self,
        decision_id: str,
        *,
        now: datetime,
        trace_id: str | None = None,
        workflow_id: str | None = None,
    ) -> None: ...

    def record_result(self, decision_id: str, result: ActionResult) -> bool: ...

    def get(self, decision_id: str) -> Decision: ...

    def list(
        self, *, asset_id: str | None = None, policy_id: str | None = None, limit: int | None = None
    ) -> list[Decision]: ...

    def close(self) -> None: ...


def state_dir(explicit: str | Path | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get("AUTOOPS_STATE_DIR") or ".autoops")


class DecisionStore:
    """Append-only decision log. One connection per store; use as a context manager or ``close``."""

    def __init__(self, path: str | Path | None = None, *, state: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else state_dir(state) / DB_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0)
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(
                f"cannot open the decision log: {exc}; set AUTOOPS_STATE_DIR to a writable directory",
                file=str(self.path),
            ) from exc

    def __enter__(self) -> DecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def append(self, decisions: Iterable[Decision]) -> int:
        """Store decisions; returns how many were new (a known id is kept as it was)."""
        rows = [
            (
                d.decision_id,
                d.time.isoformat(),
                d.site,
                d.asset_id,
                d.policy_id,
                d.policy_version,
                d.outcome.value,
                d.model_dump_json(),
            )
            for d in decisions
        ]
        with self._db:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO decisions (decision_id, time, site, asset_id, policy_id, "
                "policy_version, outcome, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            return self._db.total_changes - before

    def link(
        self,
        decision_id: str,
        *,
        now: datetime,
        trace_id: str | None = None,
        workflow_id: str | None = None,
    ) -> None:
        """Record what a decision led to (trace, workflow) without touching the decision itself."""
        if self._row(decision_id) is None:
            raise InputError(
                f"no decision {decision_id!r} in {self.path}; list them with "
                "`autoops decisions list`"
            )
        with self._db:
            self._db.execute(
                "INSERT INTO decision_links (decision_id, time, trace_id, workflow_id) VALUES (?, ?, ?, ?)",
                (decision_id, now.isoformat(), trace_id, workflow_id),
            )

    def record_result(self, decision_id: str, result: ActionResult) -> bool:
        """Record how a workflow run this decision started ended; once per run (False: known)."""
        if self._row(decision_id) is None:
            raise InputError(f"no decision {decision_id!r} in {self.path}")
        with self._db:
            before = self._db.total_changes
            self._db.execute(
                "INSERT OR IGNORE INTO decision_results (decision_id, workflow_id, run_id, body) VALUES (?, ?, ?, ?)",
                (decision_id, result.workflow_id, result.run_id, result.model_dump_json()),
            )
            return self._db.total_changes > before

    def _row(self, decision_id: str) -> str | None:
        row = self._db.execute(
            "SELECT body FROM decisions WHERE decision_id = ?", (decision_id,)
        ).fetchone()
        return row[0] if row else None

    def _with_links(self, body: str) -> Decision:
        d = Decision.model_validate_json(body)
        update: dict[str, object] = {}
        for trace_id, workflow_id in self._db.execute(
            "SELECT trace_id, workflow_id FROM decision_links WHERE decision_id = ? ORDER BY seq",
            (d.decision_id,),
        ):
            if trace_id:
                update["trace_id"] = trace_id
            if workflow_id:
                update["workflow_id"] = workflow_id
        results = tuple(
            ActionResult.model_validate_json(body)
            for (body,) in self._db.execute(
                "SELECT body FROM decision_results WHERE decision_id = ? ORDER BY seq", (d.decision_id,)
            )
        )
        if results:
            return d.model_copy(update={**update, "results": results})
        return d.model_copy(update=update) if update else d

    def get(self, decision_id: str) -> Decision:
        body = self._row(decision_id)
        if body is None:
            # ids are long: accept a unique prefix, as git does
            rows = self._db.execute(
                "SELECT body FROM decisions WHERE decision_id LIKE ? LIMIT 2", (decision_id + "%",)
            ).fetchall()
            if len(rows) != 1:
                raise InputError(
                    f"no decision {decision_id!r} in {self.path}"
                    + (" (prefix is ambiguous)" if rows else "")
                    + "; list them with `autoops decisions list`"
                )
            body = rows[0][0]
        return self._with_links(body)

    def list(
        self, *, asset_id: str | None = None, policy_id: str | None = None, limit: int | None = None
    ) -> list[Decision]:
        """Decisions in time order, optionally for one asset and / or policy."""
        sql = "SELECT body FROM decisions WHERE 1=1"
        args: list[object] = []
        if asset_id:
            sql += " AND asset_id = ?"
            args.append(asset_id)
        if policy_id:
            sql += " AND policy_id = ?"
            args.append(policy_id)
        sql += " ORDER BY time, seq"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._with_links(body) for (body,) in self._db.execute(sql, args)]
