"""Learn: the history store — what happened in the plant, kept for KPIs and reports.

SQLite in the state directory by default, PostgreSQL when the plant file's ``[history] url``
says so; one schema (``schema.py``), migrated by alembic (``migrations/``).
"""

from orchestrator.history.store import HistoryStore, history_url

__all__ = ["HistoryStore", "history_url"]
