"""Run ``autoops demo`` in its own process group, on free ports, and always clean up after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.temporal import free_port

REPO = Path(__file__).resolve().parents[2]
AUTOOPS = Path(sys.executable).with_name("autoops")


def demo_env(state_dir: Path, **extra: str) -> dict[str, str]:
    """Environment of a demo process: its own ports and its own short Ray temp directory."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="aor-", dir="/tmp"))
    env = {
        **os.environ,
        "AUTOOPS_WEB_PORT": str(free_port()),
        "AUTOOPS_TEMPORAL_PORT": str(free_port()),
        "AUTOOPS_TEMPORAL_UI_PORT": str(free_port()),
        "RAY_TMPDIR": str(ray_tmp),
        "AUTOOPS_CALLBACK_SECRET": "test-callback-secret-" + state_dir.name,
        **extra,
    }
    return env


_PORT_VARS = ("AUTOOPS_WEB_PORT", "AUTOOPS_TEMPORAL_PORT", "AUTOOPS_TEMPORAL_UI_PORT")
#: What the demo writes when a server of its own could not bind its port: its preflight
#: (the web port taken at start), uvicorn (taken between the preflight and the bind) and
#: ``orchestrator.temporal`` (the embedded dev server's ports).
_BIND_FAILED = (
    "the web UI cannot listen on",
    "error while attempting to bind on address",
    "could not bind its ports",
)


def start(state_dir: Path, env: dict[str, str], *extra_args: str) -> subprocess.Popen[str]:
    """Start the headless demo and return once its loop has ticked (or it exited, or 180 s
    passed). A port picked by ``demo_env`` is free when picked, not reserved: if another socket
    took it before the demo bound it ("address already in use", seen once in CI), the demo is
    started again on fresh ports (``env`` is updated in place), up to three times."""
    for attempt in range(1, 4):
        launched = time.time()
        process = _launch(state_dir, env, *extra_args)
        if not _lost_a_port(process, state_dir, launched, wait_s=180.0) or attempt == 3:
            return process
        kill_group(process, env)
        env.update({name: str(free_port()) for name in _PORT_VARS if name in env})
    raise AssertionError("unreachable")


def _lost_a_port(
    process: subprocess.Popen[str], state_dir: Path, launched: float, wait_s: float
) -> bool:
    """Wait until the demo's loop has ticked (its servers, web UI included, are up by then: it
    saves its progress after each tick) or it exits; True if a server of its own could not bind."""
    deadline = time.monotonic() + wait_s
    progress = state_dir / "progress.json"
    while time.monotonic() < deadline:
        exited = process.poll() is not None
        if any(sign in output_of(process)[1] for sign in _BIND_FAILED):
            return True  # whether it exited or hangs on its half-started servers
        if exited:
            return False
        try:
            if progress.stat().st_mtime >= launched:
                return False
        except FileNotFoundError:
            pass
        time.sleep(0.5)
    return False


def _launch(state_dir: Path, env: dict[str, str], *extra_args: str) -> subprocess.Popen[str]:
    """The demo's process. Its output goes to files beside the state directory, never to
    pipes: a pipe nobody reads while the test waits fills up (64 KiB) and blocks the demo on its
    next log line — a run killed mid-day is never read until the kill."""
    args = [str(AUTOOPS), "demo", "--headless", "--until-done", "--json", "--state-dir", str(state_dir), *extra_args]
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    n = len(list(state_dir.parent.glob("demo-*.out")))
    out_path, err_path = state_dir.parent / f"demo-{n}.out", state_dir.parent / f"demo-{n}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group: Temporal and Ray go down with it
        )
    process.out_path = out_path  # type: ignore[attr-defined]
    process.err_path = err_path  # type: ignore[attr-defined]
    return process


def output_of(process: subprocess.Popen[str]) -> tuple[str, str]:
    """What the demo wrote so far: (stdout, stderr)."""
    paths = (process.out_path, process.err_path)  # type: ignore[attr-defined]
    return tuple(path.read_text(errors="replace") if path.exists() else "" for path in paths)  # type: ignore[return-value]


def kill_group(process: subprocess.Popen[str], env: dict[str, str]) -> None:
    """SIGKILL the demo's process group and anything still using its Ray temp directory."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
    marker = env["RAY_TMPDIR"].encode()
    for _ in range(3):
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if marker in (proc / "cmdline").read_bytes():
                    os.kill(int(proc.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue
        time.sleep(0.5)


def finish(process: subprocess.Popen[str], env: dict[str, str], timeout_s: float) -> tuple[int, dict[str, Any], str]:
    """Wait for the demo to end by itself; return (exit code, summary, stderr)."""
    try:
        process.wait(timeout=timeout_s)
    finally:
        kill_group(process, env)
    out, err = output_of(process)
    line = next((x for x in reversed(out.splitlines()) if x.startswith("{")), "{}")
    return process.returncode, json.loads(line), err
