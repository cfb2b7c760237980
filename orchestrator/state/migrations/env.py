"""alembic environment of the shared state: the connection comes from ``StateDB.migrate``.

Its own version table (``state_alembic_version``) keeps this chain apart from the history
store's when both live in one database.
"""

from __future__ import annotations

from alembic import context

from orchestrator.state.schema import metadata

VERSION_TABLE = "state_alembic_version"

connection = context.config.attributes.get("connection")
assert connection is not None, "run migrations through orchestrator.state.StateDB"
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
