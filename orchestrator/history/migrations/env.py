"""alembic environment: the history store's connection comes from the caller's Config."""

from __future__ import annotations

from alembic import context

from orchestrator.history.schema import metadata

connection = context.config.attributes.get("connection")
assert connection is not None, "run migrations through orchestrator.history.store.migrate"
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
