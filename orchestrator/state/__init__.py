"""Shared state: the orchestrator's state in one database when configured, files by default.

What lives here: the decision log (with workflow links and results), stock reservations, the
loop's progress (one record per partition of the plant's assets), web sessions, personal API
tokens, alarms, handled partner callbacks and agent checkpoints.

* No ``[state] url`` (the default; ``make demo``, ``make test``): each store is what it was —
  files and SQLite databases in the state directory, one process owning them.
* ``[state] url = "postgresql://autoops@db:5432/autoops"`` (or ``AUTOOPS_STATE_URL``, which is
  where the password belongs): every store lives in that one database, so any number of worker,
  web and loop processes share it. ``sqlite:////abs/path/state.sqlite`` runs the same code on one
  machine. The schema is migrated when the database is opened (alembic chain in ``migrations/``,
  its own version table ``state_alembic_version``: the history store's chain is separate because
  its database may be another one, and both may share a database).

Open it once per process from the plant configuration::

    from orchestrator.state import open_state

    state = open_state(config)                  # State; state.db is None without [state] url
    sessions = state.sessions()                 # web sessions (SessionStore interface)
    tokens = state.tokens()                     # API tokens (TokenStore interface)
    ledger = StockLedger(on_hand, path=state.stock_path, store=state.stock(on_hand))
    decisions = state.decisions()               # DecisionStore interface
    progress = state.progress()                 # ProgressStore: load(partition, start) / save
    alarms = state.alarms()                     # orchestrator.alarms.AlarmStore interface
    seen = state.seen_events()                  # orchestrator.intake.SeenEvents interface
    checkpoints = state.checkpoints()           # agents.runtime.CheckpointStore (picklable)
    state.close()

The loop opens its own ``State`` in ``Orchestrator.create(config, ..., partition="p-1")`` (the
progress record is the partition's; ``DEFAULT_PARTITION`` runs every asset) and closes it in
``Orchestrator.close``; the web app takes ``create_app(..., sessions=, tokens=, alarms=)``.

Commands without a plant file (``autoops decisions``, ``trace``, ``alarms``) read the database
in ``AUTOOPS_STATE_URL`` when it is set (``decision_log(state_dir)`` for the decision log).

``StateDB(url)`` opens a database directly (tests, tools). The URL's password never reaches a
log or an error: ``redact_url`` is applied wherever the URL is shown, and database errors are
raised as ``StateUnavailable`` with the redacted URL.
"""

from __future__ import annotations

from orchestrator.state.db import StateDB, StateUnavailable
from orchestrator.state.facade import DEFAULT_PARTITION, State, decision_log, open_state
from orchestrator.state.url import redact_url

__all__ = [
    "DEFAULT_PARTITION",
    "State",
    "StateDB",
    "StateUnavailable",
    "decision_log",
    "open_state",
    "redact_url",
]
