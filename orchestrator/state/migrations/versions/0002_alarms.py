"""shared state: alarms (their histories, activations and change counter)

Revision ID: s0002
Revises: s0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(length=40), nullable=False, unique=True),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("asset_id", sa.String(length=120), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.String(length=40), nullable=False),
        sa.Column("changed_at", sa.String(length=40), nullable=False),
        sa.Column("cleared_at", sa.String(length=40)),
        sa.Column("acked_at", sa.String(length=40)),
        sa.Column("acked_by", sa.String(length=200)),
        sa.Column("activations", sa.Integer(), nullable=False),
        sa.Column("shelved", sa.Text()),
        sa.Column("suppressed", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=False),
    )
    op.create_index("alarms_open", "alarms", ["key", "state"])
    op.create_table(
        "alarm_history",
        sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alarm_id", sa.String(length=40), nullable=False),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_alarm_history_alarm_id", "alarm_history", ["alarm_id"])
    op.create_table(
        "alarm_activations",
        sa.Column("n", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("asset_id", sa.String(length=120), nullable=False),
        sa.Column("alarm_id", sa.String(length=40), nullable=False),
        sa.Column("time", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("line", sa.String(length=120), nullable=False),
        sa.Column("annunciated", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_alarm_activations_time", "alarm_activations", ["time"])
    op.create_table(
        "alarm_meta",
        sa.Column("k", sa.String(length=40), primary_key=True),
        sa.Column("v", sa.String(length=60), nullable=False),
    )


def downgrade() -> None:
    for table in ("alarm_meta", "alarm_activations", "alarm_history", "alarms"):
        op.drop_table(table)
