"""``HistoryStore``: write and read the plant's history (SQLAlchemy Core, alembic-migrated).

Writes are idempotent where the data has a natural key (an interval's asset + start, a decision's
id, a workflow's id): a replayed tick or a restarted orchestrator writes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.history import schema

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def history_url(state_dir: Path, configured: str | None = None) -> str:
    """The database URL: the plant file's ``[history] url``, else SQLite in the state dir."""
    if configured:
        if configured.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; a plain postgresql:// URL means it.
            return "postgresql+psycopg://" + configured.removeprefix("postgresql://")
        return configured
    return f"sqlite:///{Path(state_dir).resolve() / 'history.sqlite'}"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest alembic revision (a no-op when it is there)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: they were written as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class HistoryStore:
    """One database; ``open`` migrates it. Plain methods, synchronous (called off the loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str) -> HistoryStore:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")  # the CLI reads while the loop writes
                cursor.execute("PRAGMA busy_timeout=5000")
                cursor.close()

        migrate(engine)
        return cls(engine)

    @classmethod
    def for_state_dir(cls, state_dir: Path, configured: str | None = None) -> HistoryStore:
        return cls.open(history_url(state_dir, configured))

    def close(self) -> None:
        self.engine.dispose()

    # ---- writing ---------------------------------------------------------------------------
    def _insert_new(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
        """Insert rows whose key is not there yet; returns how many were new (exact for one row)."""
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            # One statement, the database skips what it has: INSERT ... ON CONFLICT DO NOTHING.
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as dialect_insert
            else:
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            statement = dialect_insert(table).on_conflict_do_nothing()
            with self.engine.begin() as conn:
                if len(rows) == 1:
                    returned = statement.returning(*table.primary_key.columns)
                    return len(conn.execute(returned, dict(rows[0])).all())
                conn.execute(statement, [dict(r) for r in rows])
                return len(rows)  # executemany reports no reliable count; callers need none
        new = 0
        with self.engine.begin() as conn:
            for row in rows:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(table), [dict(row)])
                    new += 1
                except IntegrityError:
                    pass  # already recorded (a replayed tick)
        return new

    def add_status_changes(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(schema.status_changes), [dict(r) for r in rows])

    def add_indicators(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(schema.indicators, rows)

    def add_decisions(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(schema.decisions, rows)

    def add_machine_states(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(schema.machine_states, rows)

    def add_counts(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(schema.production_counts, rows)

    def add_energy(self, rows: Sequence[Mapping[str, Any]]) -> int:
        return self._insert_new(schema.energy_readings, rows)

    def add_breakdown(self, asset_id: str, at: datetime, *, open_decision: bool, summary: str = "") -> bool:
        row = {"asset_id": asset_id, "at": at, "open_decision": open_decision, "summary": summary}
        return self._insert_new(schema.breakdowns, [row]) == 1

    def link_decision(self, decision_id: str, workflow_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.decisions)
                .where(schema.decisions.c.decision_id == decision_id)
                .values(workflow_id=workflow_id)
            )

    def upsert_workflow(self, workflow_id: str, **values: Any) -> None:
        """Create or update a workflow's outcome row (fields not given are kept)."""
        table = schema.workflow_outcomes
        with self.engine.begin() as conn:
            found = conn.execute(
                select(table.c.workflow_id).where(table.c.workflow_id == workflow_id)
            ).first()
            if found is None:
                conn.execute(insert(table), [{"workflow_id": workflow_id, "kind": "", **values}])
            elif values:
                conn.execute(update(table).where(table.c.workflow_id == workflow_id).values(**values))

    def record_finding(
        self,
        workflow_id: str,
        *,
        fault_confirmed: bool | None,
        notes: str = "",
        at: datetime,
        work_order_id: str | None = None,
        asset_id: str | None = None,
    ) -> None:
        """The technician's finding from a CMMS completion, on the workflow it closed."""
        finding = {True: "confirmed", False: "no_fault_found", None: "other"}[fault_confirmed]
        values: dict[str, Any] = {
            "finding": finding,
            "finding_notes": notes,
            "finding_at": at,
            "work_order_id": work_order_id,
        }
        if asset_id:
            values["asset_id"] = asset_id
        self.upsert_workflow(workflow_id, **values)

    def save_report(self, shift_key: str, site: str, report: Mapping[str, Any], at: datetime) -> bool:
        """Archive a shift report once: False (and nothing written) when it is already there."""
        row = {"shift_key": shift_key, "site": site, "generated_at": at, "report": dict(report)}
        return self._insert_new(schema.shift_reports, [row]) == 1

    def prune(self, before: datetime) -> None:
        """Retention: forget the fine-grained series older than ``before`` (KPI inputs too)."""
        with self.engine.begin() as conn:
            conn.execute(delete(schema.indicators).where(schema.indicators.c.at < before))
            conn.execute(delete(schema.energy_readings).where(schema.energy_readings.c.at < before))
            conn.execute(delete(schema.machine_states).where(schema.machine_states.c.end < before))
            conn.execute(
                delete(schema.production_counts).where(schema.production_counts.c.end < before)
            )

    # ---- reading ---------------------------------------------------------------------------
    def rows(self, table: Table, *where: Any, order_by: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            result = conn.execute(select(table).where(*where).order_by(*order_by))
            out = []
            for row in result.mappings():
                item = dict(row)
                for key, value in item.items():
                    if isinstance(value, datetime):
                        item[key] = _utc(value)
                out.append(item)
            return out

    def between(self, table: Table, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Interval rows (``start``/``end`` columns) touching [start, end), or point rows (``at``)."""
        if "start" in table.c:
            return self.rows(table, table.c.start < end, table.c.end > start, order_by=[table.c.start])
        return self.rows(table, table.c.at >= start, table.c.at < end, order_by=[table.c.at])

    def latest_time(self) -> datetime | None:
        """The plant's 'now' as far as the history knows: its latest interval, decision or finding."""
        from sqlalchemy import func

        found = []
        with self.engine.connect() as conn:
            for column in (
                schema.machine_states.c.end,
                schema.decisions.c.at,
                schema.workflow_outcomes.c.finding_at,
                schema.breakdowns.c.at,
            ):
                value = _utc(conn.execute(select(func.max(column))).scalar())
                if value is not None:
                    found.append(value)
        return max(found) if found else None

    def report(self, shift_key: str) -> dict[str, Any] | None:
        rows = self.rows(schema.shift_reports, schema.shift_reports.c.shift_key == shift_key)
        return rows[0]["report"] if rows else None
