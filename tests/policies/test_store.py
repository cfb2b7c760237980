"""The decision log is append-only, idempotent for replays, and filterable."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from agents.errors import InputError
from policies.engine import PolicyEngine
from policies.models import Decision
from policies.store import DB_NAME, DecisionStore
from policies.testing import T0
from tests.policies.helpers import ctx_at, threshold_policy, vib


def decisions() -> list[Decision]:
    engine = PolicyEngine(
        [threshold_policy(pid="p-one"), threshold_policy(pid="p-two", fire=8.5, clear=8.0)]
    )
    return engine.process([vib("m-1", 0, 9.0), vib("m-2", 0, 8.0)], ctx_at(0))


def test_append_get_and_filter(tmp_path: Path) -> None:
    made = decisions()
    with DecisionStore(state=tmp_path) as store:
        assert store.append(made) == 3
        assert store.get(made[0].decision_id) == made[0]
        assert store.get(made[0].decision_id[:10]) == made[0]  # unique prefix, like git
        assert {d.asset_id for d in store.list(asset_id="m-2")} == {"m-2"}
        assert {d.policy_id for d in store.list(policy_id="p-two")} == {"p-two"}
        assert len(store.list()) == 3
    assert (tmp_path / DB_NAME).exists()


def test_replaying_the_same_decisions_keeps_one_row_each(tmp_path: Path) -> None:
    with DecisionStore(state=tmp_path) as store:
        store.append(decisions())
        assert store.append(decisions()) == 0  # deterministic ids: nothing new
        assert len(store.list()) == 3


def test_decisions_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    with DecisionStore(state=tmp_path) as store:
        store.append(decisions())
    db = sqlite3.connect(tmp_path / DB_NAME)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE decisions SET outcome = 'suppressed'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM decisions")
    db.close()


def test_trace_and_workflow_are_linked_by_appending(tmp_path: Path) -> None:
    made = decisions()
    with DecisionStore(state=tmp_path) as store:
        store.append(made)
        store.link(made[0].decision_id, now=T0 + timedelta(minutes=1), trace_id="4bf92f3577b34da6")
        store.link(
            made[0].decision_id, now=T0 + timedelta(minutes=2), workflow_id="maint:plant-a:m-1"
        )
        got = store.get(made[0].decision_id)
        assert (got.trace_id, got.workflow_id) == ("4bf92f3577b34da6", "maint:plant-a:m-1")
        assert got.explanation == made[0].explanation
        with pytest.raises(InputError, match="no decision 'd-nope'"):
            store.link("d-nope", now=T0, trace_id="x")


def test_state_directory_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOOPS_STATE_DIR", str(tmp_path / "state"))
    with DecisionStore() as store:
        store.append(decisions())
    assert (tmp_path / "state" / DB_NAME).exists()


def test_unknown_id_says_how_to_find_ids(tmp_path: Path) -> None:
    with (
        DecisionStore(state=tmp_path) as store,
        pytest.raises(InputError, match="autoops decisions list"),
    ):
        store.get("d-0000")
