"""What the loop keeps between ticks and across restarts: its progress and report history.

Progress is kept per partition of the plant's assets (``DEFAULT_PARTITION`` when the loop runs
them all) in a ``ProgressStore``: ``FileProgressStore`` writes ``progress.json`` (the default
partition) or ``progress-<partition>.json`` in the state directory; the shared state database
has its own (``orchestrator.state``).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from agents.models import HealthReport
from orchestrator.ledger import WorkflowLedger

#: The partition id of a loop that runs every asset of the plant.
DEFAULT_PARTITION = "default"


def _atomic_write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


@dataclass
class Progress:
    """What must survive a stop, beside the agents' checkpoints and Temporal's history."""

    sim_start: datetime
    ticks: int = 0
    journal: list[dict[str, Any]] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=dict)
    workflows: WorkflowLedger = field(default_factory=WorkflowLedger)  # the ones the loop started

    @classmethod
    def load(cls, path: Path, default_start: datetime) -> Progress:
        if not path.exists():
            return cls(sim_start=default_start)
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(
            sim_start=datetime.fromisoformat(data["sim_start"]),
            ticks=int(data["ticks"]),
            journal=list(data["journal"]),
            engine=dict(data["engine"]),
            workflows=WorkflowLedger.from_json(dict(data["workflows"]), dict(data.get("closed", {}))),
        )

    def save(self, path: Path) -> None:
        _atomic_write(path, self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (``json.dumps(..., default=str)``), read back by ``from_dict``."""
        open_, closed = self.workflows.to_json()
        return {
            "sim_start": self.sim_start.isoformat(),
            "ticks": self.ticks,
            "journal": self.journal,
            "engine": self.engine,
            "workflows": open_,
            "closed": closed,
        }


class ProgressStore(Protocol):
    """Where a loop keeps its ``Progress``, one record per partition."""

    def load(self, partition: str, default_start: datetime) -> Progress:
        """The partition's saved progress, or a fresh one starting at ``default_start``."""
        ...

    def save(self, partition: str, progress: Progress) -> None:
        """Replace the partition's record atomically."""
        ...


class FileProgressStore:
    """``progress.json`` (default partition) / ``progress-<partition>.json`` in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path_for(self, partition: str) -> Path:
        if partition == DEFAULT_PARTITION:
            return self.directory / "progress.json"
        safe = "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02x}" for c in partition)
        return self.directory / f"progress-{safe}.json"

    def load(self, partition: str, default_start: datetime) -> Progress:
        return Progress.load(self.path_for(partition), default_start)

    def save(self, partition: str, progress: Progress) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        progress.save(self.path_for(partition))


class History:
    """The last reports of each asset, for the board and the approvals' evidence plots."""

    def __init__(self, size: int = 400) -> None:
        self._by_asset: dict[str, deque[HealthReport]] = defaultdict(lambda: deque(maxlen=size))

    def add(self, reports: Sequence[HealthReport]) -> None:
        for report in reports:
            self._by_asset[report.asset_id].append(report)

    def latest(self) -> dict[str, HealthReport]:
        return {asset: reports[-1] for asset, reports in self._by_asset.items() if reports}

    def of(self, asset_id: str) -> list[HealthReport]:
        return list(self._by_asset.get(asset_id, ()))
