"""Help texts keep the plant file's table names with their brackets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AUTOOPS = Path(sys.executable).with_name("autoops")


def help_of(*command: str) -> str:
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    out = subprocess.run([str(AUTOOPS), *command, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_table_names_survive_in_the_help() -> None:
    assert "[temporal] and [web] tables" in help_of("approvals", "list")
    approve = help_of("approvals", "approve")
    assert "[web] of --config" in approve and "AUTOOPS_URL" in approve
    assert "[temporal] / [ray] addresses" in help_of("run")
