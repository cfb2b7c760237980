"""A real PostgreSQL for the history store's tests, started once per test run and stopped after.

Debian's server binaries (``/usr/lib/postgresql/<v>/bin``); ``make test`` installs the package
when missing. PostgreSQL refuses to run as root: the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest

from orchestrator.temporal import free_port


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found: apt-get install postgresql (make test does)")
    root = os.geteuid() == 0
    data = tempfile.mkdtemp(prefix="autoops-pg-")
    as_pg: list[str] = ["runuser", "-u", "postgres", "--"] if root else []
    if root:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run([*as_pg, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "autoops"],
                   check=True, capture_output=True)
    subprocess.run(
        [*as_pg, f"{bindir}/pg_ctl", "-D", data, "-l", f"{data}/log", "-w", "-o",
         f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
        check=True, capture_output=True,
    )
    try:
        yield f"postgresql://autoops@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
