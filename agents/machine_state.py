"""Checkpoint of a ``MachineAgent``: everything it learned, as JSON-able data, and back.

The Ray runtime stores these so a restarted actor resumes with its baseline, trends, detectors
and status (``agents.runtime.checkpoint``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agents.baseline import Baseline
from agents.models import Status

if TYPE_CHECKING:
    from agents.machine import MachineAgent

#: Values per feature whose median is scored against the baseline.
ANOMALY_WINDOW = 5


def snapshot(agent: MachineAgent) -> dict[str, Any]:
    """Baseline, trend, detectors, status and sequence number, as JSON-able data."""
    return {
        "asset_id": agent.asset.id,
        "seq": agent.seq,
        "t0": agent.t0.isoformat() if agent.t0 else None,
        "status": agent.status.value,
        "raw": list(agent.raw),
        "held": {k: v.value for k, v in agent.held.items()},
        "defects": {k: [n, list(t)] for k, (n, t) in agent.defects.items()},
        "recent": {k: list(d) for k, d in agent.recent.items()},
        "anomalous": agent.anomalous,
        "last_wave": {k: [t.isoformat(), f] for k, (t, f) in agent.last_wave.items()},
        "monitor": agent.monitor.state(),
        "baseline": agent.baseline.state(),
        "tracker": agent.tracker.state(),
        "maintained_at": agent.maintained_at.isoformat() if agent.maintained_at else None,
        "relearn": agent.relearn.state() if agent.relearn is not None else None,
        "rejudge": agent.rejudge,
        "drift": agent.drift.state(),
    }


def restore(agent: MachineAgent, snapshot: Mapping[str, Any]) -> None:
    """Resume from ``snapshot()`` of an agent for the same asset."""
    if snapshot.get("asset_id") != agent.asset.id:
        raise ValueError(
            f"snapshot is for asset {snapshot.get('asset_id')!r}, not {agent.asset.id!r}"
        )
    agent.seq = int(snapshot["seq"])
    agent.t0 = datetime.fromisoformat(snapshot["t0"]) if snapshot["t0"] else None
    agent.status = Status(snapshot["status"])
    agent.raw = deque((int(r) for r in snapshot["raw"]), maxlen=agent.raw.maxlen)
    agent.held = {k: Status(v) for k, v in snapshot["held"].items()}
    agent.defects = {k: (int(n), [str(x) for x in t]) for k, (n, t) in snapshot["defects"].items()}
    agent.anomalous = bool(snapshot["anomalous"])
    agent.last_wave = {
        k: (datetime.fromisoformat(t), {n: float(v) for n, v in f.items()})
        for k, (t, f) in snapshot["last_wave"].items()
    }
    agent.recent = {
        k: deque((float(v) for v in vs), maxlen=ANOMALY_WINDOW)
        for k, vs in snapshot["recent"].items()
    }
    agent.monitor.load(snapshot["monitor"])
    agent.baseline.load(snapshot["baseline"])
    agent.tracker.load(snapshot["tracker"])
    # Snapshots from before maintenance messages existed have none of these keys.
    at = snapshot.get("maintained_at")
    agent.maintained_at = datetime.fromisoformat(at) if at else None
    agent.relearn = None
    if snapshot.get("relearn") is not None:
        agent.relearn = Baseline(readings=None, hours=None)
        agent.relearn.load(snapshot["relearn"])
    agent.rejudge = bool(snapshot.get("rejudge", False))
    agent.drift.load(snapshot.get("drift", {}))


__all__ = ["ANOMALY_WINDOW", "restore", "snapshot"]
