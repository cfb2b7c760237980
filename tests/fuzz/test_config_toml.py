"""Fuzz: asset files (``agents/replay.py`` + ``agents/*_config.py``) and plant files
(``orchestrator/config.py`` + ``orchestrator/preflight.py``).

Near-valid documents (the sample files with leaves replaced, removed or added) and arbitrary
bytes: each is accepted, or refused with a ``ConfigError`` naming the file. An accepted asset
builds an agent that assesses a reading; an accepted plant passes the whole pre-start check.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import tomllib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.base import Reading
from agents.errors import ConfigError
from agents.machine import MachineAgent
from agents.replay import load_asset_toml
from orchestrator.config import load_config
from orchestrator.preflight import check_plant
from tests.fuzz.strategies import mutated, toml_document, tweaked
from tests.orchestrator.test_cli_malformed import SAMPLE
from tests.orchestrator.test_cli_replay import ASSET

pytestmark = pytest.mark.fuzz

_TMP = Path(tempfile.mkdtemp(prefix="autoops-fuzz-toml-"))
atexit.register(shutil.rmtree, _TMP, True)

ASSET_DATA = tomllib.loads(ASSET)
PLANT_DATA = tomllib.loads(SAMPLE.read_text())
PLANT_DATA["state_dir"] = str(_TMP / "state")


def _asset(path: Path) -> None:
    try:
        machine = load_asset_toml(path)
    except ConfigError as exc:
        assert exc.file == str(path) and str(exc).startswith(f"file {path}: ")
        return
    agent = MachineAgent(machine)
    values = {s.name: 1.0 for s in machine.sensors if s.kind.value != "vibration_acceleration"}
    agent.assess(Reading(asset_id=machine.id, time=datetime(2026, 1, 1, tzinfo=UTC), values=values))


@settings(max_examples=1000)
@given(data=mutated(ASSET_DATA))
def test_near_valid_asset_files(data: dict, count) -> None:
    count()
    path = _TMP / "asset.toml"
    path.write_text(toml_document(data), encoding="utf-8")
    _asset(path)


@settings(max_examples=500)
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        st.integers(1, 6000).map(lambda n: b"x = " + b"[" * n + b"]" * n),
        st.integers(1, 6000).map(lambda n: b"x = " + b"{a = " * n + b"1" + b"}" * n),
    )
)
def test_arbitrary_asset_files(raw: bytes, count) -> None:
    count()
    path = _TMP / "raw-asset.toml"
    path.write_bytes(raw)
    _asset(path)


@pytest.fixture()
def cached_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load the policy library once: the check re-reads it per plant, ~20 ms each."""
    import policies.loader

    monkeypatch.setattr(policies.loader, "load_all", cache(policies.loader.load_all))


def _plant(path: Path) -> None:
    try:
        config = load_config(path, environ={})
        check_plant(config, source=str(path))
    except ConfigError as exc:
        assert exc.file == str(path) and str(exc).startswith(f"file {path}: ")


@settings(max_examples=500)
@given(data=tweaked(PLANT_DATA))
def test_near_valid_plant_files(data: dict, count, cached_policies) -> None:
    count()
    path = _TMP / "plant.toml"
    path.write_text(toml_document(data), encoding="utf-8")
    _plant(path)


@settings(max_examples=300)
@given(raw=st.binary(max_size=300))
def test_arbitrary_plant_files(raw: bytes, count, cached_policies) -> None:
    count()
    path = _TMP / "raw-plant.toml"
    path.write_bytes(b'site = "x"\n' + raw)
    _plant(path)
