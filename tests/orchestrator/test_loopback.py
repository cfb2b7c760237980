"""With the demo running, nothing autoops or its Ray started listens beyond loopback (issue 13)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.orchestrator.demo_run import demo_env, kill_group, output_of, start
from tests.orchestrator.sockets import Listener, listeners, process_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _demo_processes(root: int, ray_tmp: str) -> set[int]:
    """The demo's process tree, and any Ray process using its temp directory (daemonised ones
    are re-parented away from the tree)."""
    pids = process_tree(root)
    marker = ray_tmp.encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes():
                    pids |= process_tree(int(proc.name))
            except OSError:
                continue
    return pids


def test_the_running_demo_listens_on_loopback_only(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "state")
    web_port = int(env["AUTOOPS_WEB_PORT"])
    process = start(tmp_path / "state", env, "--fresh")
    try:
        found: list[Listener] = []
        deadline = time.monotonic() + 300  # generous: two cores shared with the rest of CI
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the demo ended early: {output_of(process)[1][-3000:]}"
            found = listeners(_demo_processes(process.pid, env["RAY_TMPDIR"]))
            commands = " ".join(x.command for x in found)
            # Up: the web UI, Temporal, Ray's GCS and raylet, and the agents' actor workers.
            if (
                any(x.port == web_port for x in found)
                and "temporal" in commands
                and "gcs_server" in commands
                and "raylet" in commands
                and "ray::" in commands
                and (tmp_path / "state" / "progress.json").exists()
            ):
                break
            time.sleep(1.0)
        else:
            raise AssertionError(f"the demo did not come up; listening: {[str(x) for x in found]}")
        found = listeners(_demo_processes(process.pid, env["RAY_TMPDIR"]))
        exposed = [str(x) for x in found if not x.loopback]
        assert not exposed, f"listening beyond loopback: {exposed}"
        assert len(found) >= 6, [str(x) for x in found]
    finally:
        kill_group(process, env)


def test_the_socket_reader_tells_all_addresses_from_loopback() -> None:
    import os
    import socket

    with socket.socket() as everywhere, socket.socket() as local:
        everywhere.bind(("0.0.0.0", 0))
        local.bind(("127.0.0.1", 0))
        everywhere.listen()
        local.listen()
        mine = {x.port: x for x in listeners({os.getpid()})}
        assert not mine[everywhere.getsockname()[1]].loopback
        assert mine[local.getsockname()[1]].loopback
