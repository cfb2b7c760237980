"""Partition leases on a real PostgreSQL: one live owner per partition, fair shares, take-over
when an owner dies (killed with SIGKILL), and an owner that lost its session stops acting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import psycopg
import pytest

from orchestrator.config import parse_config
from orchestrator.lease import EmbeddedLeases, PostgresLeases, leases_for
from orchestrator.partitions import partition_of, split

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {deadline_s:g} s: {what}")


def test_partition_of_is_stable_and_covers_every_partition() -> None:
    # The same on every process and machine (no salted hash()): these values must never change,
    # or a restarted loop would resume the wrong assets from a partition's progress.
    assert [partition_of(a, 4) for a in ("mill-1", "mill-2", "lathe-1", "compressor-1")] == [
        partition_of(a, 4) for a in ("mill-1", "mill-2", "lathe-1", "compressor-1")
    ]
    script = "from orchestrator.partitions import partition_of; print(partition_of('mill-1', 4))"
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(other.stdout) == partition_of("mill-1", 4)
    assets = [f"asset-{i}" for i in range(400)]
    parts = split(assets, 4)
    assert sorted(a for group in parts.values() for a in group) == sorted(assets)
    assert all(len(group) > 50 for group in parts.values())  # a hash, not all in one
    assert all(partition_of(a, 1) == 0 for a in assets)
    with pytest.raises(ValueError, match="at least 1"):
        partition_of("x", 0)


def test_loop_partitions_are_validated() -> None:
    assert parse_config({"site": "s", "loop": {"partitions": 4}}).loop.partitions == 4
    from agents.errors import ConfigError

    with pytest.raises(ConfigError, match="loop.partitions"):
        parse_config({"site": "s", "loop": {"partitions": 0}})
    with pytest.raises(ConfigError, match="loop.partitions"):
        parse_config({"site": "s", "loop": {"partitions": "four"}})


def test_without_postgresql_one_process_owns_every_partition() -> None:
    leases = leases_for(None, site="s", partitions=3)
    assert isinstance(leases, EmbeddedLeases)
    assert leases.poll() == frozenset({0, 1, 2}) and not leases.excess()
    assert isinstance(leases_for("sqlite:////tmp/x.sqlite", site="s", partitions=2), EmbeddedLeases)
    leases.close()
    assert leases.held() == frozenset()


def test_two_holders_share_fairly_and_never_overlap(postgres_url: str) -> None:
    a = PostgresLeases(postgres_url, site="share", partitions=4)
    b = PostgresLeases(postgres_url, site="share", partitions=4)
    other_site = PostgresLeases(postgres_url, site="another-plant", partitions=4)
    try:
        assert a.poll() == frozenset({0, 1, 2, 3})  # alone: everything
        assert b.poll() == frozenset()  # all taken; now two members
        # A sees two members: it hands over what is above its share, B takes it.
        assert len(a.poll()) == 4 and len(a.excess()) == 2
        for partition in a.excess():
            a.release(partition)
        wait_for(lambda: len(b.poll()) == 2, "B takes the two partitions A handed over")
        assert len(a.poll()) == 2 and not a.excess() and not b.excess()
        assert a.held().isdisjoint(b.held()) and a.held() | b.held() == {0, 1, 2, 3}
        # Another site's partitions are other locks.
        assert other_site.poll() == frozenset({0, 1, 2, 3})
    finally:
        for leases in (a, b, other_site):
            leases.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from orchestrator.lease import PostgresLeases
    leases = PostgresLeases(sys.argv[1], site="takeover", partitions=4)
    while True:
        held = leases.poll()
        for p in leases.excess():
            leases.release(p)
        print(",".join(map(str, sorted(held))), flush=True)
        time.sleep(0.2)
    """
)


def test_a_killed_holder_s_partitions_are_taken_over(postgres_url: str, tmp_path) -> None:
    out = tmp_path / "holder.out"
    with out.open("w") as fh:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, postgres_url], stdout=fh, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
    survivor = PostgresLeases(postgres_url, site="takeover", partitions=4)

    def holder_has(n: int) -> bool:
        lines = out.read_text().splitlines()
        return bool(lines) and len([x for x in lines[-1].split(",") if x]) == n

    try:
        wait_for(lambda: holder_has(4), "the first holder takes all four partitions")
        survivor.poll()  # joins: two members now, nothing free yet
        wait_for(lambda: holder_has(2), "the first holder hands two partitions over")
        wait_for(lambda: len(survivor.poll()) == 2, "the survivor takes its share")
        mine = survivor.held()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        # Its session ended with the process: the server released its locks.
        wait_for(lambda: survivor.poll() == frozenset({0, 1, 2, 3}), "the survivor takes over everything")
        assert mine < survivor.held()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        survivor.close()


def test_an_owner_that_lost_its_session_stops_acting_then_rejoins(postgres_url: str) -> None:
    a = PostgresLeases(postgres_url, site="lost", partitions=2, grace_s=2.0, detect_s=6)
    b = PostgresLeases(postgres_url, site="lost", partitions=2)
    try:
        assert a.poll() == frozenset({0, 1})
        # The database ends A's session (as after a network partition): B can take everything...
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'autoops-loop' AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'"
                " AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s)",
                (a.member,),
            ).fetchall()
        assert ended == [(True,)]
        wait_for(lambda: b.poll() == frozenset({0, 1}), "B takes A's partitions")
        # ...and A, at its next check, holds nothing: it does not act on what B now owns.
        assert a.poll() == frozenset() and a.held() == frozenset()
        # Its next poll reconnects as a new member; B hands over one partition, A takes it.
        a.poll()
        wait_for(lambda: bool(b.poll()) and bool(b.excess()), "B sees two members again")
        for partition in b.excess():
            b.release(partition)
        wait_for(lambda: len(a.poll()) == 1, "A takes its share back")
        assert a.held().isdisjoint(b.held())
        # Without a successful check for longer than grace_s, A stops acting on its own.
        time.sleep(2.5)
        assert a.held() == frozenset()
    finally:
        a.close()
        b.close()


async def test_autoops_run_holds_the_whole_plant_on_a_shared_state(postgres_url: str) -> None:
    """`autoops run` on PostgreSQL is the plant's only loop: a second one (or a loop process of a
    one-partition plant) is refused, and a partitioned plant is refused to `run` at all."""
    import asyncio
    from types import SimpleNamespace

    from agents.errors import ConfigError
    from orchestrator.roles import hold_whole_plant

    config = parse_config({"site": "run-guard", "state": {"url": postgres_url}})
    first = SimpleNamespace(holds=None)
    task = await hold_whole_plant(config, first)
    try:
        assert task is not None and first.holds()
        with pytest.raises(ConfigError, match="another process runs this plant's loop"):
            await hold_whole_plant(config, SimpleNamespace(holds=None))
        loop_process = PostgresLeases(postgres_url, site="run-guard", partitions=1)
        assert loop_process.poll() == frozenset()  # an `autoops loop` waits for it
        loop_process.close()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Released with the task: the next one may run.
    second = SimpleNamespace(holds=None)
    again = await hold_whole_plant(config, second)
    assert again is not None and second.holds()
    again.cancel()
    await asyncio.gather(again, return_exceptions=True)
    with pytest.raises(ConfigError, match="partitions = 4"):
        await hold_whole_plant(parse_config({"site": "s", "loop": {"partitions": 4}}), first)
    # Without PostgreSQL the state directory is the process's own: nothing to hold.
    assert await hold_whole_plant(parse_config({"site": "s"}), first) is None


def test_serialized_runs_one_process_at_a_time(postgres_url: str) -> None:
    """What several role processes starting at once must not do together (the state schema's
    first migration) runs under one advisory lock: never two at a time."""
    import threading

    from orchestrator.lease import serialized

    inside, overlaps, done = [0], [0], []
    guard = threading.Lock()

    def work(n: int) -> int:
        with guard:
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
        time.sleep(0.3)
        with guard:
            inside[0] -= 1
        return n

    threads = [
        threading.Thread(target=lambda n=n: done.append(serialized(postgres_url, "t", work, n)))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(done) == [0, 1, 2, 3] and overlaps[0] == 1
    assert serialized(None, "t", work, 7) == 7  # no PostgreSQL: just runs it
