"""Driver of the multi-node test: a two-node Ray cluster on this machine, agents spread over both
nodes, the second node killed, its agents restored on the head.

``tests/agents/test_multinode.py`` runs it in a subprocess of its own, because a
``ray.cluster_utils.Cluster`` cannot live in a process that already holds the test session's Ray
instance. Run by hand::

    RAY_TMPDIR=/tmp/aomn-x .venv/bin/python -m tests.agents.multinode_driver --workdir /tmp/aomn-x

Prints what happened as one JSON object on the last line of stdout (keys in ``run``); the test
asserts on it. Every Ray process started here is stopped before the driver exits
(``Cluster.shutdown`` in a ``finally``); the test also ends whatever the driver's process session
still holds, in case the driver itself was killed.

Both nodes are on this machine, so the file checkpoint store under ``--workdir`` stands for the
shared volume (NFS / ReadWriteMany PVC) every node of a real cluster mounts at the same path.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.base import Reading
from agents.models import HealthReport
from agents.registry import AgentSpec, MachineAgentSpec

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ASSETS = ("mill-1", "mill-2", "lathe-1", "lathe-2")
COMMISSIONING = 12  # readings each agent learns its baseline from
BEFORE_KILL = range(0, 16)  # hours sent while both nodes are up, in batches of BATCH
AFTER_KILL = range(16, 24)  # hours sent after the second node is killed
BATCH = 4
NAMESPACE = "multinode"
# A node that misses health checks for ~period x threshold is declared dead and its actors are
# restarted elsewhere. Ray's defaults (3 s x 5, after a grace period) are sized for real networks;
# shortened here, but not so far that a busy shared 2-core machine fails the head's own checks.
SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 1000,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 4,
}
# Small nodes: the machine has 2 cores shared with other work; agents need ~0.01 CPU each.
NODE_ARGS: dict[str, Any] = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


def machine_spec(asset_id: str) -> AgentSpec:
    """A mill or lathe with a velocity and a bearing-temperature sensor."""
    sensors = [
        {"name": "vib", "kind": "vibration_velocity", "unit": "mm/s"},
        {"name": "temp", "kind": "temperature", "unit": "degC"},
    ]
    return MachineAgentSpec(
        asset_id=asset_id, config={"sensors": sensors, "commissioning_readings": COMMISSIONING}
    )


def readings(asset_id: str, hours: range) -> list[Reading]:
    """Hourly readings of a healthy machine, each asset around its own level."""
    offset = 0.1 * ASSETS.index(asset_id)
    return [
        Reading(
            asset_id,
            T0 + timedelta(hours=h),
            {"vib": 1.2 + offset + 0.05 * (h % 4), "temp": 41.0 + 10 * offset + 0.3 * (h % 3)},
        )
        for h in hours
    ]


def _batches(hours: range) -> list[list[Reading]]:
    return [
        [r for a in ASSETS for r in readings(a, hours[i : i + BATCH])]
        for i in range(0, len(hours), BATCH)
    ]


def run(workdir: str) -> dict[str, Any]:
    """The scenario; returns what a person watching the cluster would see."""
    import ray
    from ray.cluster_utils import Cluster

    from agents.runtime.adapter import ActorOptions, AgentFleet, connect_ray, disconnect_ray

    ray_dir = os.path.join(workdir, "ray")
    timings: dict[str, float] = {}
    started = time.monotonic()
    # shutdown_at_exit: Ray's own exit hook stops the nodes too if this process dies unexpectedly.
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **NODE_ARGS,
            "temp_dir": ray_dir,
            "include_dashboard": False,
            "_system_config": SYSTEM_CONFIG,
        },
        shutdown_at_exit=True,
    )
    fleet: AgentFleet | None = None
    try:
        second = cluster.add_node(**NODE_ARGS, temp_dir=ray_dir)
        cluster.wait_for_nodes()
        connect_ray(cluster.address, namespace=NAMESPACE, log_to_driver=False)
        head_id, second_id = cluster.head_node.node_id, second.node_id
        timings["cluster_up_s"] = time.monotonic() - started

        mark = time.monotonic()
        fleet = AgentFleet.start(
            [machine_spec(a) for a in ASSETS],
            namespace=NAMESPACE,
            checkpoint_dir=os.path.join(workdir, "checkpoints"),
            options=ActorOptions(spread=True, call_timeout_s=60.0),
        )
        timings["fleet_start_s"] = time.monotonic() - mark
        placement_before = fleet.placement()

        # A consumer (the orchestrator) reads the published reports after every batch.
        consumed: list[HealthReport] = []
        missed = 0
        cursor: dict[str, int] = {}

        def send(batch: list[Reading]) -> list[HealthReport]:
            nonlocal cursor, missed
            assert fleet is not None
            returned = fleet.ingest(batch)
            page = fleet.reports_since(cursor)
            consumed.extend(page.reports)
            cursor, missed = page.cursor, missed + page.missed
            return returned

        returned_before = [r for batch in _batches(BEFORE_KILL) for r in send(batch)]
        cursor_before = dict(cursor)
        stats_before = fleet.stats()

        # A crash of the whole node, not a drain: its actors' worker processes and then its raylet,
        # object store and other processes get SIGKILL. (Killing only the raylet leaves the workers
        # answering direct calls for a moment, which a lost machine would not.)
        lost = [n for n, node in placement_before.items() if node == second_id]
        mark = time.monotonic()
        for name in lost:
            os.kill(stats_before[name].pid, signal.SIGKILL)
        cluster.remove_node(second, allow_graceful=False)
        killed_at = time.monotonic()
        timings["kill_s"] = killed_at - mark

        after_batches = _batches(AFTER_KILL)
        returned_after = send(after_batches[0])
        # What a person notices: the time from the crash until every agent answered again.
        timings["recovery_s"] = time.monotonic() - killed_at
        for batch in after_batches[1:]:
            returned_after += send(batch)
        alive = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
        result = {
            "nodes": {"head": head_id, "second": second_id},
            "alive_nodes_after": alive,
            "route": {a: fleet.actor_name(a) for a in ASSETS},
            "placement_before": placement_before,
            "placement_after": fleet.placement(),
            "killed_actors": lost,
            "returned_before": [r.model_dump(mode="json") for r in returned_before],
            "returned_after": [r.model_dump(mode="json") for r in returned_after],
            "consumed": [r.model_dump(mode="json") for r in consumed],
            "missed": missed,
            "cursor_before": cursor_before,
            "cursor_after": cursor,
            "latest_after": {a: r.model_dump(mode="json") for a, r in fleet.latest().items()},
            "stats_before": {n: s.model_dump(mode="json") for n, s in stats_before.items()},
            "stats_after": {n: s.model_dump(mode="json") for n, s in fleet.stats().items()},
            "timings": timings,
        }
        fleet.stop()
        fleet = None
        return result
    finally:
        if fleet is not None:
            try:
                fleet.stop()
            except Exception as exc:  # the cluster goes down next anyway; say why, do not mask
                print(f"fleet.stop failed: {exc!r}", file=sys.stderr)
        disconnect_ray()
        cluster.shutdown()
        timings["total_s"] = time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="short absolute directory of this run")
    args = parser.parse_args(argv)
    if not os.path.isabs(args.workdir):
        parser.error("--workdir must be absolute (Ray workers resolve it on their own)")
    # No usage reports, and the cluster address file stays in this run's directory: Ray writes it
    # under RAY_TMPDIR, and a plain ray.init() elsewhere on the machine must not find this cluster.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if os.environ.get("RAY_TMPDIR") != args.workdir:
        parser.error("set RAY_TMPDIR to --workdir (the cluster address file is written there)")
    print(json.dumps(run(args.workdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
