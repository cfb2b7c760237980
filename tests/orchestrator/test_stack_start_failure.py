"""A start that fails half-way leaves nothing running: the web port taken after the preflight
(another program got there first) must not leave the Temporal dev server, Ray or the partners
behind the failed command."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.orchestrator.demo_run import REPO, demo_env, kill_group

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _holding(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (the state or Ray directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "cmdline").read_bytes()
            state = (proc / "stat").read_text().split(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if marker.encode() in raw and state != "Z":
            found.append(raw.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found


def test_a_start_that_fails_at_the_web_port_stops_what_it_started(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = demo_env(state)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", int(env["AUTOOPS_WEB_PORT"])))
    blocker.listen()
    # Stack.start itself (no preflight in front of it): the web server's bind fails last, after
    # Temporal, Ray, the partners and the worker are up.
    script = textwrap.dedent(
        f"""
        import asyncio
        from orchestrator.config import load_config
        from orchestrator.demo import DEMO_PLANT
        from orchestrator.process import Stack

        async def main():
            config = load_config(DEMO_PLANT).model_copy(update={{"state_dir": __import__("pathlib").Path({str(state)!r})}})
            try:
                await Stack.start(config)
            except BaseException as exc:
                print("start failed:", type(exc).__name__, exc, flush=True)
                return
            print("started?!", flush=True)

        asyncio.run(main())
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=600)
        assert "start failed:" in out, (out, err[-3000:])
        deadline = time.monotonic() + 60  # children may take a moment to exit
        left = _holding(str(state)) + _holding(env["RAY_TMPDIR"])
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = _holding(str(state)) + _holding(env["RAY_TMPDIR"])
        assert left == [], left
    finally:
        blocker.close()
        kill_group(process, env)
