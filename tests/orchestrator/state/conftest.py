"""The shared state's tests run the same code on SQLite and on a real PostgreSQL.

``state_url``: a fresh, empty state database per test — SQLite in ``tmp_path``, or a database of
its own on the session's PostgreSQL server (``postgres_database`` in tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path.resolve() / 'state.sqlite'}"
    return str(request.getfixturevalue("postgres_database"))
