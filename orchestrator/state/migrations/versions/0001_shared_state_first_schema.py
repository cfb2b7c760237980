"""shared state: first schema (sessions, tokens, stock, progress, checkpoints, decision log)

Revision ID: s0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=200)),
        sa.Column("expires", sa.Float(), nullable=False),
    )
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("revoked_at", sa.String(length=40)),
        sa.Column("last_used_at", sa.String(length=40)),
    )
    op.create_index("ix_api_tokens_user_name", "api_tokens", ["user_name"])
    op.create_table(
        "stock_levels",
        sa.Column("sku", sa.String(length=120), primary_key=True),
        sa.Column("on_hand", sa.Integer(), nullable=False),
    )
    op.create_table(
        "stock_moves",
        sa.Column("kind", sa.String(length=16), primary_key=True),
        sa.Column("ref", sa.String(length=200), primary_key=True),
        sa.Column("lines", sa.Text(), nullable=False),
    )
    op.create_table(
        "loop_progress",
        sa.Column("partition_id", sa.String(length=120), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "agent_checkpoints",
        sa.Column("key", sa.String(length=300), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "decision_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(length=120), nullable=False, unique=True),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("site", sa.String(length=120), nullable=False),
        sa.Column("asset_id", sa.String(length=120)),
        sa.Column("policy_id", sa.String(length=120), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_decision_log_asset_id", "decision_log", ["asset_id"])
    op.create_index("ix_decision_log_policy_id", "decision_log", ["policy_id"])
    op.create_table(
        "decision_links",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(length=120), nullable=False),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("trace_id", sa.String(length=64)),
        sa.Column("workflow_id", sa.String(length=200)),
    )
    op.create_index("ix_decision_links_decision_id", "decision_links", ["decision_id"])
    op.create_table(
        "decision_results",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(length=120), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.UniqueConstraint("workflow_id", "run_id", name="decision_results_run"),
    )
    op.create_index("ix_decision_results_decision_id", "decision_results", ["decision_id"])


def downgrade() -> None:
    for table in (
        "decision_results", "decision_links", "decision_log", "agent_checkpoints",
        "loop_progress", "stock_moves", "stock_levels", "api_tokens", "web_sessions",
    ):
        op.drop_table(table)
