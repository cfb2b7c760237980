"""The decision log in the state database (``policies.store.DecisionStore``'s interface).

Append-only as in SQLite: no method updates or deletes a decision; links (trace, workflow) and
results (one per workflow run) are appended beside it and merged in when reading. Storing the
same decision twice (ids are deterministic: a replayed stream, or two loops after a partition
changed hands) keeps one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, insert, select

from agents.errors import InputError
from orchestrator.state.schema import decision_links as links
from orchestrator.state.schema import decision_log as log
from orchestrator.state.schema import decision_results as results
from orchestrator.state.url import redact_url
from policies.models import ActionResult, Decision

if TYPE_CHECKING:
    from orchestrator.state.db import StateDB


class SqlDecisionStore:
    """Append-only decision log; ``close`` leaves the ``StateDB`` open unless ``close_db``."""

    def __init__(self, db: StateDB, *, close_db: bool = False) -> None:
        self._db = db
        self._close_db = close_db  # a store opened for one command owns its database handle
        self.path = redact_url(db.url)  # where, for messages (DecisionStore names its file)

    def __enter__(self) -> SqlDecisionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._close_db:
            self._db.close()

    def append(self, decisions: Iterable[Decision]) -> int:
        """Store decisions; returns how many were new (a known id is kept as it was)."""
        rows = [
            {
                "decision_id": d.decision_id,
                "time": d.time.isoformat(),
                "site": d.site,
                "asset_id": d.asset_id,
                "policy_id": d.policy_id,
                "policy_version": d.policy_version,
                "outcome": d.outcome.value,
                "body": d.model_dump_json(),
            }
            for d in decisions
        ]
        if not rows:
            return 0
        statement = self._db.insert(log).on_conflict_do_nothing().returning(log.c.seq)
        new = 0
        with self._db.begin() as conn:
            for row in rows:  # one statement each: the count of new rows must be exact
                new += len(conn.execute(statement, row).all())
        return new

    def _body(self, conn: Connection, decision_id: str) -> str | None:
        return conn.execute(
            select(log.c.body).where(log.c.decision_id == decision_id)
        ).scalar_one_or_none()

    def link(
        self,
        decision_id: str,
        *,
        now: datetime,
        trace_id: str | None = None,
        workflow_id: str | None = None,
    ) -> None:
        """Record what a decision led to (trace, workflow) without touching the decision itself."""
        with self._db.begin() as conn:
            if self._body(conn, decision_id) is None:
                raise InputError(
                    f"no decision {decision_id!r} in {self.path}; list them with "
                    "`autoops decisions list`"
                )
            conn.execute(
                insert(links).values(
                    decision_id=decision_id, time=now.isoformat(), trace_id=trace_id,
                    workflow_id=workflow_id,
                )
            )

    def record_result(self, decision_id: str, result: ActionResult) -> bool:
        """Record how a workflow run this decision started ended; once per run (False: known)."""
        statement = (
            self._db.insert(results)
            .values(
                decision_id=decision_id, workflow_id=result.workflow_id, run_id=result.run_id,
                body=result.model_dump_json(),
            )
            .on_conflict_do_nothing()
            .returning(results.c.seq)
        )
        with self._db.begin() as conn:
            if self._body(conn, decision_id) is None:
                raise InputError(f"no decision {decision_id!r} in {self.path}")
            return len(conn.execute(statement).all()) == 1

    def _with_links(self, conn: Connection, body: str) -> Decision:
        d = Decision.model_validate_json(body)
        update: dict[str, object] = {}
        for trace_id, workflow_id in conn.execute(
            select(links.c.trace_id, links.c.workflow_id)
            .where(links.c.decision_id == d.decision_id)
            .order_by(links.c.seq)
        ):
            if trace_id:
                update["trace_id"] = trace_id
            if workflow_id:
                update["workflow_id"] = workflow_id
        found = tuple(
            ActionResult.model_validate_json(b)
            for b in conn.execute(
                select(results.c.body)
                .where(results.c.decision_id == d.decision_id)
                .order_by(results.c.seq)
            ).scalars()
        )
        if found:
            return d.model_copy(update={**update, "results": found})
        return d.model_copy(update=update) if update else d

    def get(self, decision_id: str) -> Decision:
        with self._db.begin() as conn:
            body = self._body(conn, decision_id)
            if body is None:
                # ids are long: accept a unique prefix, as git does
                escaped = decision_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                rows = conn.execute(
                    select(log.c.body)
                    .where(log.c.decision_id.like(escaped + "%", escape="\\"))
                    .limit(2)
                ).scalars().all()
                if len(rows) != 1:
                    raise InputError(
                        f"no decision {decision_id!r} in {self.path}"
                        + (" (prefix is ambiguous)" if rows else "")
                        + "; list them with `autoops decisions list`"
                    )
                body = rows[0]
            return self._with_links(conn, body)

    def list(
        self, *, asset_id: str | None = None, policy_id: str | None = None, limit: int | None = None
    ) -> list[Decision]:
        """Decisions in time order, optionally for one asset and / or policy."""
        query = select(log.c.body)
        if asset_id:
            query = query.where(log.c.asset_id == asset_id)
        if policy_id:
            query = query.where(log.c.policy_id == policy_id)
        query = query.order_by(log.c.time, log.c.seq)
        if limit:
            query = query.limit(limit)
        with self._db.begin() as conn:
            return [self._with_links(conn, body) for body in conn.execute(query).scalars().all()]
