"""shared state: the decision log refuses UPDATE and DELETE (as the SQLite log does)

Revision ID: s0003
Revises: s0002
"""

from __future__ import annotations

from alembic import op

revision = "s0003"
down_revision = "s0002"
branch_labels = None
depends_on = None

_MESSAGE = "the decision log is append-only: decisions are never updated or deleted"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION decision_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER decision_log_append_only BEFORE UPDATE OR DELETE ON decision_log "
            "FOR EACH ROW EXECUTE FUNCTION decision_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER decision_log_no_{verb.lower()} BEFORE {verb} ON decision_log "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER decision_log_append_only ON decision_log")
        op.execute("DROP FUNCTION decision_log_append_only()")
    else:
        op.execute("DROP TRIGGER decision_log_no_update")
        op.execute("DROP TRIGGER decision_log_no_delete")
