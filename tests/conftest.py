"""Fixtures shared by the whole test run.

``ray_session``: ONE local Ray instance per pytest session (``ray.init`` costs ~8 s on this machine),
started on first use and shut down at the end. Tests that need Ray take this fixture and are marked
``integration``; each uses its own Ray namespace so actor names never collide.

``postgres_url``: a real PostgreSQL (Debian's server binaries, ``/usr/lib/postgresql/<v>/bin``),
started once per test run on a free loopback port and stopped after; ``make test`` installs the
package when missing. PostgreSQL refuses to run as root: the cluster belongs to ``postgres``.
``postgres_database``: a fresh, empty database on that server for one test (dropped after).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from orchestrator.temporal import free_port


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    from agents.runtime.adapter import connect_ray, disconnect_ray

    # Short path: Ray's Unix sockets live under it and socket paths are limited to ~107 bytes.
    temp_dir = f"/tmp/autoops-ray-{os.getuid()}"
    started = connect_ray(
        num_cpus=2, namespace="autoops-tests", temp_dir=temp_dir, log_to_driver=False
    )
    try:
        yield
    finally:
        if started:
            disconnect_ray()


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


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
