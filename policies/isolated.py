"""Load policy files in a child process with a time limit: ``policy validate`` as a gate.

A policy file is code. Loading it in the checking process lets it hang the check (an endless loop
at import), end it (``sys.exit`` / ``os._exit``) or leave state behind. Here each file is
imported by ``python -m policies.isolated FILE`` and its result comes back as one JSON line;
whatever the file does, the parent gets an answer within ``timeout_s``. Ids repeated across the
checked files are refused, as ``load_all`` refuses them at run time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

#: Prefix of the child's answer line, told apart from whatever the policy prints at import.
_MARK = "@@autoops-policy-check@@"

DEFAULT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class FileCheck:
    """One policy file's verdict: ``error`` is empty when it loaded."""

    path: str
    error: str = ""
    policy_id: str = ""
    version: str = ""
    cases: int | None = None
    source_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def _child(path: str) -> int:
    """Runs in the child: load one file, print the verdict as one marked JSON line."""
    from agents.errors import PolicyError
    from policies.loader import load_policy_file

    try:
        pf = load_policy_file(path)
        answer = {
            "policy_id": pf.loaded.policy.id,
            "version": pf.loaded.policy.version,
            "cases": None if pf.cases is None else len(pf.cases),
            "source_hash": pf.loaded.source_hash,
        }
    except PolicyError as exc:
        answer = {"error": str(exc)}
    except BaseException as exc:  # noqa: BLE001  the verdict must come back whatever happened
        answer = {"error": f"{path}:1: loading raised {type(exc).__name__}: {exc}"}
    sys.stdout.flush()
    print(_MARK + json.dumps(answer), flush=True)
    return 0


def check_file(path: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> FileCheck:
    """Load one policy file in a child process; never hangs longer than ``timeout_s``."""
    shown = str(path)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "policies.isolated", str(path)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return FileCheck(
            shown,
            error=f"{shown}:1: importing the policy did not finish within {timeout_s:g} s (an "
            "endless loop or a blocking call at import?); a policy module must import quickly",
        )
    answers = [line for line in done.stdout.splitlines() if line.startswith(_MARK)]
    if not answers:
        last = (done.stderr.strip().splitlines() or [""])[-1][:200]
        return FileCheck(
            shown,
            error=f"{shown}:1: the policy ended the checking process while importing (exit code "
            f"{done.returncode}){': ' + last if last else ''}; a policy module must not exit",
        )
    data = json.loads(answers[-1][len(_MARK) :])
    if data.get("error"):
        return FileCheck(shown, error=data["error"])
    return FileCheck(
        shown,
        policy_id=data["policy_id"],
        version=data["version"],
        cases=data["cases"],
        source_hash=data["source_hash"],
    )


def check_files(
    paths: Sequence[str | Path], *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[FileCheck]:
    """Check files (two at a time) in order; a second file declaring an id already seen fails."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda p: check_file(p, timeout_s=timeout_s), paths))
    first: dict[str, str] = {}
    out: list[FileCheck] = []
    for r in results:
        if r.ok and r.policy_id in first:
            r = FileCheck(
                r.path,
                error=f"{r.path}:1: policy id {r.policy_id!r} is also declared in "
                f"{first[r.policy_id]}; ids must be unique",
            )
        elif r.ok:
            first[r.policy_id] = r.path
        out.append(r)
    return out


if __name__ == "__main__":
    code = _child(sys.argv[1])
    sys.stderr.flush()
    os._exit(code)  # threads a policy started at import must not keep the check waiting
