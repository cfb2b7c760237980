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
    args = [str(AUTOOPS), "demo", "--headless", "--until-done", "--json", "--state-dir", str(state_dir), *extra_args]
    return subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: Temporal and Ray go down with it
    )


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
        out, err = process.communicate(timeout=timeout_s)
    finally:
        kill_group(process, env)
    line = next((x for x in reversed(out.splitlines()) if x.startswith("{")), "{}")
    return process.returncode, json.loads(line), err
