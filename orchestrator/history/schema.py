"""The history store's tables (SQLAlchemy Core). Times are UTC; one row per event or interval.

Changing a table means a new alembic revision in ``migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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
)

metadata = MetaData()

status_changes = Table(
    "status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asset_id", String(120), nullable=False),
    Column("asset_kind", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous", String(16)),
    Column("health_score", Float),
    Column("summary", Text, nullable=False, default=""),
    Index("ix_status_changes_asset_at", "asset_id", "at"),
)

indicators = Table(
    "indicators",
    metadata,
    Column("asset_id", String(120), primary_key=True),
    Column("name", String(80), primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("value", Float),
    Column("unit", String(24), nullable=False, default=""),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(80), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("policy_id", String(120), nullable=False),
    Column("policy_version", String(40), nullable=False),
    Column("asset_id", String(120)),
    Column("outcome", String(24), nullable=False),
    Column("action_kind", String(40)),
    Column("workflow_id", String(200)),
    Index("ix_decisions_policy", "policy_id", "policy_version"),
)

workflow_outcomes = Table(
    "workflow_outcomes",
    metadata,
    Column("workflow_id", String(200), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("asset_id", String(120)),
    Column("decision_id", String(80)),
    Column("started_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("status", String(24)),
    # The technician's finding from the CMMS completion: "confirmed", "no_fault_found", "other".
    Column("finding", String(24)),
    Column("finding_notes", Text),
    Column("finding_at", DateTime(timezone=True)),
    Column("work_order_id", String(80)),
)

machine_states = Table(
    "machine_states",
    metadata,
    Column("asset_id", String(120), primary_key=True),
    Column("start", DateTime(timezone=True), primary_key=True),
    Column("end", DateTime(timezone=True), nullable=False),
    Column("state", String(24), nullable=False),  # running / down / planned_stop
    Column("reason", String(80), nullable=False, default=""),
    Column("planned", Boolean, nullable=False, default=False),
)

production_counts = Table(
    "production_counts",
    metadata,
    Column("asset_id", String(120), primary_key=True),
    Column("start", DateTime(timezone=True), primary_key=True),
    Column("end", DateTime(timezone=True), nullable=False),
    Column("line", String(80), nullable=False, default=""),
    Column("batch", String(80), nullable=False, default=""),
    Column("ideal_cycle_s", Float, nullable=False),
    Column("produced", Integer, nullable=False),
    Column("good", Integer, nullable=False),
)

energy_readings = Table(
    "energy_readings",
    metadata,
    Column("meter_id", String(120), primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("line", String(80), nullable=False, default=""),
    Column("kwh", Float, nullable=False),
)

breakdowns = Table(
    "breakdowns",
    metadata,
    Column("asset_id", String(120), primary_key=True),
    Column("at", DateTime(timezone=True), primary_key=True),
    Column("open_decision", Boolean, nullable=False),
    Column("summary", Text, nullable=False, default=""),
)

shift_reports = Table(
    "shift_reports",
    metadata,
    Column("shift_key", String(120), primary_key=True),
    Column("site", String(120), nullable=False),
    Column("generated_at", DateTime(timezone=True), nullable=False),
    Column("report", JSON, nullable=False),
)
