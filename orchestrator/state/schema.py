"""The shared state's tables (SQLAlchemy Core). Changed only through a new alembic revision.

Table names do not collide with the history store's (``orchestrator/history/schema.py``), and
the two keep separate alembic version tables, so both may live in one PostgreSQL database.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: Signed-in (and anonymous, CSRF-carrying) web sessions; ``expires`` is wall-clock epoch seconds.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("user_name", String(200)),
    Column("expires", Float, nullable=False, index=True),
)

#: Personal API tokens: only the SHA-256 of the secret is kept.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_name", String(200), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("roles", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
    Column("last_used_at", String(40)),
)

#: Free stock per SKU (reserved parts are no longer in it).
stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(120), primary_key=True),
    Column("on_hand", Integer, nullable=False),
)

#: Each reservation / receipt / issue, once per reference (workflow id / PO number).
#: ``lines`` is JSON: [{"sku": ..., "quantity": ...}] (for a reservation: what was taken).
stock_moves = Table(
    "stock_moves",
    metadata,
    Column("kind", String(16), primary_key=True),  # reservation | receipt | issue
    Column("ref", String(200), primary_key=True),
    Column("lines", Text, nullable=False),
)

#: The loop's progress (orchestrator.progress.Progress as JSON), one row per partition.
loop_progress = Table(
    "loop_progress",
    metadata,
    Column("partition_id", String(120), primary_key=True),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: Agent checkpoints (agents.runtime.checkpoint.CheckpointStore records as JSON).
agent_checkpoints = Table(
    "agent_checkpoints",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("body", Text, nullable=False),
)

#: The decision log: append-only (no code path updates or deletes a row).
decision_log = Table(
    "decision_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(120), nullable=False, unique=True),
    Column("time", String(40), nullable=False),
    Column("site", String(120), nullable=False),
    Column("asset_id", String(120), index=True),
    Column("policy_id", String(120), nullable=False, index=True),
    Column("policy_version", String(40), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("body", Text, nullable=False),
)

decision_links = Table(
    "decision_links",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(120), nullable=False, index=True),
    Column("time", String(40), nullable=False),
    Column("trace_id", String(64)),
    Column("workflow_id", String(200)),
)

decision_results = Table(
    "decision_results",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(120), nullable=False, index=True),
    Column("workflow_id", String(200), nullable=False),
    Column("run_id", String(120), nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("workflow_id", "run_id", name="decision_results_run"),
)

# ---- alarms (orchestrator.alarms; revision s0002) ----------------------------------------------
alarms = Table(
    "alarms",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("id", String(40), nullable=False, unique=True),
    Column("key", String(300), nullable=False),
    Column("asset_id", String(120), nullable=False),
    Column("source", String(40), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("state", String(40), nullable=False),
    Column("message", Text, nullable=False),
    Column("place", Text, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("raised_at", String(40), nullable=False),
    Column("changed_at", String(40), nullable=False),
    Column("cleared_at", String(40)),
    Column("acked_at", String(40)),
    Column("acked_by", String(200)),
    Column("activations", Integer, nullable=False),
    Column("shelved", Text),
    Column("suppressed", Text, nullable=False),
    Column("assignee", String(200), nullable=False),
    Index("alarms_open", "key", "state"),
)

alarm_history = Table(
    "alarm_history",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("alarm_id", String(40), nullable=False, index=True),
    Column("time", String(40), nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("comment", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

#: One row per activation (a condition starting), for the alarm-rate KPIs.
alarm_activations = Table(
    "alarm_activations",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False),
    Column("asset_id", String(120), nullable=False),
    Column("alarm_id", String(40), nullable=False),
    Column("time", String(40), nullable=False, index=True),
    Column("priority", String(8), nullable=False),
    Column("line", String(120), nullable=False),
    Column("annunciated", Boolean, nullable=False),
)

#: ``version`` (grows with every change: the live board's cue) and ``plant_now``.
alarm_meta = Table(
    "alarm_meta",
    metadata,
    Column("k", String(40), primary_key=True),
    Column("v", String(60), nullable=False),
)

#: Ids of handled partner callbacks (orchestrator.intake.SeenEvents; revision s0004): a replay
#: that lands on another web process is still recognised.
callback_events = Table(
    "callback_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("at", Float, nullable=False),
)
