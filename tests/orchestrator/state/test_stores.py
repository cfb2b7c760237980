"""Decision log, loop progress and agent checkpoints round-trip through the state database, on
SQLite and PostgreSQL alike; the database password never shows."""

from __future__ import annotations

import json
import pickle
import uuid
from datetime import timedelta

import pytest

from agents.errors import ConfigError, InputError, ServiceUnavailableError
from agents.runtime.actor import AssetActor
from orchestrator.config import load_config, parse_config
from orchestrator.ledger import WorkflowLedger
from orchestrator.progress import DEFAULT_PARTITION, FileProgressStore, Progress
from orchestrator.state import StateDB, StateUnavailable, open_state, redact_url
from policies.models import ActionResult
from policies.testing import T0
from tests.agents.test_runtime import counts, mill, reference, same_reports, sku, vibration
from tests.policies.test_store import decisions


def test_the_decision_log_round_trips_with_links_and_results(state_url: str) -> None:
    made = decisions()
    writer, reader = StateDB(state_url), StateDB(state_url)
    try:
        store = writer.decision_store()
        assert store.append(made) == 3
        assert reader.decision_store().append(made) == 0  # another loop replays: one row each
        store.link(made[0].decision_id, now=T0 + timedelta(minutes=1), trace_id="4bf92f3577b34da6")
        store.link(made[0].decision_id, now=T0 + timedelta(minutes=2), workflow_id="maint:p:m-1")
        result = ActionResult(workflow_id="maint:p:m-1", run_id="r1", ended="completed", by=("ana",), time=T0)
        assert store.record_result(made[0].decision_id, result)
        assert not reader.decision_store().record_result(made[0].decision_id, result)

        other = reader.decision_store()
        got = other.get(made[0].decision_id[:10])  # a unique prefix, as with the SQLite log
        assert (got.trace_id, got.workflow_id, got.results) == (
            "4bf92f3577b34da6", "maint:p:m-1", (result,)
        )
        assert got.explanation == made[0].explanation
        assert [d.decision_id for d in other.list()] == [d.decision_id for d in made]
        assert {d.asset_id for d in other.list(asset_id="m-2")} == {"m-2"}
        assert len(other.list(limit=1)) == 1
        with pytest.raises(InputError, match="no decision 'd-nope'"):
            other.link("d-nope", now=T0, trace_id="x")
        with pytest.raises(InputError, match="no decision '%'"):
            other.get("%")  # a LIKE wildcard is a character here, not "anything"
    finally:
        writer.close()
        reader.close()


def test_progress_is_kept_per_partition(state_url: str) -> None:
    db = StateDB(state_url)
    try:
        store = db.progress_store()
        fresh = store.load(DEFAULT_PARTITION, T0)
        assert (fresh.sim_start, fresh.ticks) == (T0, 0)
        ledger = WorkflowLedger()
        progress = Progress(sim_start=T0, ticks=42, journal=[{"tick": 3, "event": "x"}],
                            engine={"policy": {"state": 1}}, workflows=ledger)
        store.save(DEFAULT_PARTITION, progress)
        store.save("p-2", Progress(sim_start=T0 + timedelta(hours=1), ticks=7))
        progress.ticks = 43
        store.save(DEFAULT_PARTITION, progress)  # replaces
        again = StateDB(state_url).progress_store()
        back = again.load(DEFAULT_PARTITION, T0 + timedelta(days=9))
        assert back.to_dict() == progress.to_dict() and back.ticks == 43
        assert again.load("p-2", T0).ticks == 7
        assert again.partitions() == [DEFAULT_PARTITION, "p-2"]
    finally:
        db.close()


def test_file_progress_keeps_progress_json_for_the_default_partition(tmp_path) -> None:
    store = FileProgressStore(tmp_path)
    store.save(DEFAULT_PARTITION, Progress(sim_start=T0, ticks=5))
    store.save("line/2", Progress(sim_start=T0, ticks=6))
    assert Progress.load(tmp_path / "progress.json", T0).ticks == 5  # what older versions read
    assert store.load("line/2", T0).ticks == 6 and store.path_for("line/2").parent == tmp_path


def test_agent_checkpoints_restore_a_restarted_host(state_url: str) -> None:
    db = StateDB(state_url)
    try:
        store = db.checkpoint_store()
        # Ray hands the store to an actor in another process: it travels as its URL.
        store = pickle.loads(pickle.dumps(store))
        spec = sku("sku-a")
        before = AssetActor("asset:sku-a", [spec], store)
        before.ingest(counts("sku-a", range(24)))
        last = before.latest()["sku-a"]
        after = AssetActor("asset:sku-a", [spec], store)
        assert after.latest()["sku-a"] == last
        assert after.stats().restored == ("sku-a",)
        resumed = after.ingest(counts("sku-a", range(24, 30)))
        assert resumed == reference(spec, counts("sku-a", range(30)))[24:]
        assert store.keys() == ["actor:asset:sku-a", "agent:sku-a"]
        store.delete("agent:sku-a")
        store.delete("agent:sku-a")  # absent: no error
        assert store.load("agent:sku-a") is None
    finally:
        db.close()


@pytest.mark.integration
def test_a_killed_actor_on_ray_restores_from_postgresql(
    ray_session: None, postgres_database: str
) -> None:
    from agents.runtime.adapter import AgentFleet

    db = StateDB(postgres_database)
    specs = [mill("mill-1")]
    fleet = AgentFleet.start(specs, namespace=f"test-{uuid.uuid4().hex[:8]}", store=db.checkpoint_store())
    try:
        fleet.ingest(vibration("mill-1", range(16)))
        before = fleet.latest()["mill-1"]
        assert before.baseline_ready
        fleet.kill("mill-1", restart=True)
        from tests.agents.test_runtime import wait_restarted

        wait_restarted(fleet, "asset:mill-1", 2)
        later = fleet.ingest(vibration("mill-1", range(16, 22)))
        assert later[0].seq == before.seq + 1 and later[0].baseline_ready
        assert same_reports(later, reference(specs[0], vibration("mill-1", range(22)))[16:])
        assert fleet.stats()["asset:mill-1"].restored == ("mill-1",)
    finally:
        fleet.stop()
        db.close()


# ---- configuration and secrets ---------------------------------------------------------------
def test_the_state_url_comes_from_the_plant_file_or_the_environment(tmp_path) -> None:
    plant = tmp_path / "plant.toml"
    plant.write_text('site = "s"\n[state]\nurl = "postgresql://autoops@db:5432/autoops"\n')
    assert load_config(plant, environ={}).state.url == "postgresql://autoops@db:5432/autoops"
    env = {"AUTOOPS_STATE_URL": "sqlite:////tmp/elsewhere.sqlite"}
    assert load_config(plant, environ=env).state.url == "sqlite:////tmp/elsewhere.sqlite"
    assert parse_config({"site": "s"}).state.url is None  # default: files in the state dir


def test_a_bad_url_is_refused_naming_the_field_without_the_password() -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config({"site": "s", "state": {"url": "mysql://u:hunter2@db/x"}})
    assert "state.url" in str(bad.value) and "unsupported database 'mysql'" in str(bad.value)
    assert "hunter2" not in str(bad.value)
    with pytest.raises(ConfigError) as garbled:
        parse_config({"site": "s", "state": {"url": "not a url:hunter2@"}})
    assert "state.url" in str(garbled.value) and "hunter2" not in str(garbled.value)


def test_the_password_never_shows_in_reprs_or_errors(postgres_url: str, tmp_path) -> None:
    assert redact_url("postgresql://autoops:hunter2@db:5432/x") == "postgresql://autoops:***@db:5432/x"
    port = postgres_url.rsplit(":", 1)[1].split("/")[0]
    # A wrong password on the real server (trust auth accepts it; a missing database does not).
    url = f"postgresql://autoops:hunter2@127.0.0.1:{port}/no_such_db"
    with pytest.raises(StateUnavailable) as down:
        StateDB(url)
    assert isinstance(down.value, ServiceUnavailableError)
    message = str(down.value)
    assert "no_such_db" in message and "hunter2" not in message and "***" in message
    assert down.value.__cause__ is None  # the driver's error (and its DSN) is not chained
    good = StateDB(postgres_url.replace("autoops@", "autoops:hunter2@"))
    try:
        assert "hunter2" not in repr(good) and "hunter2" not in repr(good.checkpoint_store())
    finally:
        good.close()


def test_open_state_without_a_url_uses_the_state_directory(tmp_path) -> None:
    config = parse_config({"site": "s", "state_dir": str(tmp_path)})
    state = open_state(config)
    assert not state.shared and state.stock(None) is None
    assert state.stock_path == tmp_path.resolve() / "stock-ledger.json"
    assert type(state.checkpoints()).__name__ == "FileCheckpointStore"
    shared = open_state(parse_config({"site": "s", "state": {"url": f"sqlite:///{tmp_path}/s.sqlite"}}))
    try:
        assert shared.shared and shared.stock_path is None
        assert type(shared.sessions()).__name__ == "SqlSessionStore"
    finally:
        shared.close()


def test_autoops_decisions_reads_the_database_named_in_the_environment(
    state_url: str, tmp_path
) -> None:
    import subprocess
    import sys
    from pathlib import Path

    made = decisions()
    db = StateDB(state_url)
    try:
        db.decision_store().append(made)
    finally:
        db.close()
    autoops = Path(sys.executable).parent / "autoops"
    env = {"AUTOOPS_STATE_DIR": str(tmp_path / "empty"), "AUTOOPS_STATE_URL": state_url,
           "PATH": "/usr/bin:/bin"}
    listed = subprocess.run([str(autoops), "decisions", "list", "--json"], capture_output=True,
                            text=True, timeout=120, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [d["decision_id"] for d in json.loads(listed.stdout)] == [d.decision_id for d in made]
    explained = subprocess.run(
        [str(autoops), "decisions", "explain", made[0].decision_id[:12]],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert explained.returncode == 0 and made[0].policy_id in explained.stdout


def test_the_database_refuses_to_rewrite_a_decision(state_url: str) -> None:
    from sqlalchemy import delete, update

    from orchestrator.state import schema

    db = StateDB(state_url)
    try:
        db.decision_store().append(decisions())
        for change in (update(schema.decision_log).values(outcome="suppressed"),
                       delete(schema.decision_log)):
            with pytest.raises(StateUnavailable, match="append-only"), db.begin() as conn:
                conn.execute(change)
        assert len(db.decision_store().list()) == 3
    finally:
        db.close()


def test_the_migrations_build_exactly_the_declared_schema(state_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from orchestrator.state import schema

    db = StateDB(state_url)
    db.migrate()  # a second time: a no-op
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": "state_alembic_version"}
            )
            assert compare_metadata(context, schema.metadata) == []
    finally:
        db.close()


def test_a_callback_handled_by_one_web_process_is_a_replay_on_another(state_url: str) -> None:
    first, second = StateDB(state_url), StateDB(state_url)
    try:
        seen_a, seen_b = first.seen_events(), second.seen_events()
        assert "evt-1" not in seen_b
        seen_a.add("evt-1")
        seen_a.add("evt-1")  # twice: one record
        assert "evt-1" in seen_b and len(seen_b) == 1 and 42 not in seen_b
        small = type(seen_a)(second, capacity=2)
        for n in range(2, 5):
            small.add(f"evt-{n}")
        assert "evt-1" not in seen_a and "evt-2" not in seen_a and "evt-4" in seen_a
    finally:
        first.close()
        second.close()
