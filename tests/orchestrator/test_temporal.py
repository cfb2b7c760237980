"""Temporal helpers: the packaged binaries are found; a client's API key never reaches logs or errors."""

from __future__ import annotations

import logging

import pytest

from agents.errors import ConfigError, IntegrationError
from orchestrator.config import TemporalSettings
from orchestrator.temporal import connect, free_port, temporal_cli_path, time_skipping_server_path


def test_binaries_come_from_the_installed_wheels() -> None:
    assert temporal_cli_path().name == "temporal" and temporal_cli_path().is_file()
    assert time_skipping_server_path().name == "temporal-test-server"


async def test_api_key_is_never_logged(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AUTOOPS_TEST_TEMPORAL_KEY", "sekret-api-key-123")
    settings = TemporalSettings(api_key_env="AUTOOPS_TEST_TEMPORAL_KEY")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(IntegrationError) as failed:
        await connect(settings, address=f"127.0.0.1:{free_port()}")  # nothing listens there
    assert "cannot reach Temporal" in str(failed.value)
    assert "sekret" not in str(failed.value) and "sekret" not in caplog.text
    assert "tls=True, api key=set" in caplog.text


async def test_missing_tls_file_names_the_field(tmp_path: pytest.TempPathFactory) -> None:
    settings = TemporalSettings(tls=True, tls_ca_file=tmp_path / "missing-ca.pem")  # type: ignore[operator]
    with pytest.raises(ConfigError) as failed:
        await connect(settings, address="127.0.0.1:1")
    assert "temporal.tls_ca_file" in str(failed.value)

