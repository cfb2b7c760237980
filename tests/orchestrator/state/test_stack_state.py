"""The whole orchestrator on a PostgreSQL state database: nothing of the shared state is written
to the state directory's files, and a restarted stack resumes from the database."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select

from orchestrator.config import PlantConfig, load_config
from orchestrator.demo import DEMO_PLANT
from orchestrator.progress import DEFAULT_PARTITION
from orchestrator.state import StateDB
from orchestrator.state import schema as tables
from orchestrator.temporal import free_port


def plant(state_dir: Path, url: str) -> PlantConfig:
    data = load_config(DEMO_PLANT, environ={}).model_dump()
    data.update(
        state_dir=state_dir,
        state={"url": url},
        web={**data["web"], "port": free_port()},
        temporal={**data["temporal"], "port": free_port(), "ui_port": free_port()},
        ray={**data["ray"], "namespace": f"autoops-state-{secrets.token_hex(3)}"},
    )
    return PlantConfig.model_validate(data)


@pytest.mark.integration
@pytest.mark.slow
async def test_a_stack_keeps_its_state_in_postgresql_and_resumes_from_it(
    ray_session: None, postgres_database: str, tmp_path: Path
) -> None:
    from orchestrator.process import Stack

    config = plant(tmp_path / "state", postgres_database)
    stack = await Stack.start(config, ray_temp_dir=f"/tmp/autoops-ray-{os.getuid()}")
    decided = 0
    try:
        for _ in range(6):
            decided += len((await stack.step()).decisions)
    finally:
        await stack.stop()
    state_dir = (tmp_path / "state").resolve()
    for moved in ("progress.json", "stock-ledger.json", "decisions.sqlite", "api-tokens.sqlite",
                  "alarms.sqlite", "intake-seen.sqlite"):
        assert not (state_dir / moved).exists(), moved
    assert not list((state_dir / "checkpoints").glob("*.json"))

    db = StateDB(postgres_database)
    try:
        progress = db.progress_store().load(DEFAULT_PARTITION, _epoch())
        assert progress.ticks == 6 and progress.sim_start != _epoch()
        keys = db.checkpoint_store().keys()
        assert any(k.startswith("agent:") for k in keys) and any(k.startswith("actor:") for k in keys)
        skus = {t["sku"] for t in config.inventory}
        assert set(db.stock_store().levels()) >= skus
        with db.begin() as conn:
            assert conn.execute(select(func.count()).select_from(tables.decision_log)).scalar() == decided
    finally:
        db.close()

    # Started again (any machine: the state is in the database), it goes on from tick 6.
    # New ports: the first stack's sockets may linger a moment after it stopped.
    again = await Stack.start(plant(tmp_path / "state", postgres_database), ray_temp_dir=f"/tmp/autoops-ray-{os.getuid()}")
    try:
        assert again.orchestrator.progress.ticks == 6
        await again.step()
    finally:
        await again.stop()
    db = StateDB(postgres_database)
    try:
        assert db.progress_store().load(DEFAULT_PARTITION, _epoch()).ticks == 7
    finally:
        db.close()


def _epoch():
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)
