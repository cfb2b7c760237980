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


def start(state_dir: Path, env: dict[str, str], *extra_args: str) -> subprocess.Popen[str]:
    """Start the headless demo. Its output goes to files beside the state directory, never to
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
