"""``autoops alarms``: list and KPIs read the state directory; ack / shelve / unshelve go through
the web API with a personal API token, on a real server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from agents.models import Status
from orchestrator.alarms import FILENAME, AlarmService, AlarmStore
from orchestrator.temporal import free_port
from orchestrator.web.app import create_app
from orchestrator.web.tokens import TokenStore
from tests.orchestrator.alarms.conftest import T0, Clock, report
from tests.orchestrator.test_web import TableBackend
from tests.orchestrator.test_web_alarms import config_with_passwords

AUTOOPS = Path(sys.executable).with_name("autoops")


def autoops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AUTOOPS), "alarms", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    service = AlarmService(AlarmStore(tmp_path / FILENAME), config_with_passwords(), clock=Clock())
    for n in range(3):  # mill-1 flaps three times within a minute: chattering
        at = T0 + timedelta(seconds=20 * n)
        service.observe_reports([report("mill-1", Status.AMBER, at, seq=2 * n)])
        service.observe_reports([report("mill-1", Status.GREEN, at + timedelta(seconds=10),
                                        seq=2 * n + 1)])
    service.observe_reports([report("lathe-1", Status.RED, T0 + timedelta(minutes=5), seq=9)])
    service.store.close()
    return tmp_path


def test_list_and_kpis_read_the_state_directory(state: Path) -> None:
    listed = autoops("list", "--json", env={"AUTOOPS_STATE_DIR": str(state)})
    assert listed.returncode == 0, listed.stderr
    alarms = json.loads(listed.stdout)
    assert [(a["asset_id"], a["priority"], a["state"]) for a in alarms] == [
        ("lathe-1", "P1", "active_unack"), ("mill-1", "P2", "cleared_unack")]
    assert all({"id", "asset_id", "priority", "state", "history"} <= set(a) for a in alarms)
    kpis = autoops("kpis", "--json", "--state-dir", str(state))
    assert kpis.returncode == 0, kpis.stderr
    figures = json.loads(kpis.stdout)
    assert figures["activations"] == 4 and figures["floods"] == 0 and figures["stale"] == 0
    assert figures["chattering_alarms"] == ["health:mill-1"] and figures["chattering"] == 1
    assert figures["per_10_min"] == 4.0
    missing = autoops("list", "--state-dir", str(state / "nope"))
    assert missing.returncode == 2 and "no state directory" in missing.stderr


@pytest.fixture
def server(state: Path) -> Iterator[tuple[str, TokenStore]]:
    config = config_with_passwords()
    tokens = TokenStore()
    service = AlarmService(AlarmStore(state / FILENAME), config)
    app = create_app(config, TableBackend([]), alarms=service, tokens=tokens)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        srv.should_exit = True
        thread.join(timeout=30)
        service.store.close()


def test_ack_shelve_unshelve_through_the_api_with_a_token(
    state: Path, server: tuple[str, TokenStore]
) -> None:
    url, tokens = server
    omar, _ = tokens.create("omar", "cli", ("operator",))
    vic, _ = tokens.create("vic", "cli", ("viewer",))
    env = {"AUTOOPS_API_TOKEN": omar, "AUTOOPS_URL": url}
    red = next(a for a in json.loads(autoops("list", "--json", "--state-dir", str(state)).stdout)
               if a["asset_id"] == "lathe-1")["id"]
    done = autoops("ack", red, "--as", "omar", "--comment", "on my way", env=env)
    assert done.returncode == 0 and "acknowledged by omar" in done.stdout, done.stderr
    wrong = autoops("ack", red, "--as", "ana", env=env)
    assert wrong.returncode == 2 and "this API token is omar's" in wrong.stderr
    long = autoops("shelve", red, "--as", "omar", "--for", "2d", "--reason", "x", env=env)
    assert long.returncode == 2 and "at most 8 h" in long.stderr
    shelved = autoops("shelve", red, "--as", "omar", "--for", "2h", "--reason", "tool change", env=env)
    assert shelved.returncode == 0, shelved.stderr
    viewer = autoops("unshelve", red, "--as", "vic", env={**env, "AUTOOPS_API_TOKEN": vic})
    assert viewer.returncode == 2 and "not act on them" in viewer.stderr
    back = autoops("unshelve", red, "--as", "omar", env=env)
    assert back.returncode == 0, back.stderr
    alarm = next(a for a in json.loads(autoops("list", "--json", "--state-dir", str(state)).stdout)
                 if a["id"] == red)
    people = [(h["user"], h["action"], h["comment"]) for h in alarm["history"] if h["user"] != "autoops"]
    assert people == [("omar", "acknowledge", "on my way"), ("omar", "shelve", "tool change"),
                      ("omar", "unshelve", "")]
