"""Fixtures shared by the whole test run.

``ray_session``: ONE local Ray instance per pytest session (``ray.init`` costs ~8 s on this machine),
started on first use and shut down at the end. Tests that need Ray take this fixture and are marked
``integration``; each uses its own Ray namespace so actor names never collide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


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
