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


def _atomic_write(path: Path, data: dict[str, Any], raw: dict[str, list[str]] | None = None) -> None:
    """``data`` as JSON, plus each of ``raw``'s keys as a list of items already JSON text."""
    text = json.dumps(data, default=str)
    if raw:
        tail = "".join(f", {json.dumps(k)}: [{','.join(items)}]" for k, items in raw.items())
        text = text[:-1] + tail + "}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Progress:
    """What must survive a stop, beside the agents' checkpoints and Temporal's history."""

    sim_start: datetime
    ticks: int = 0
    journal: list[dict[str, Any]] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=dict)
    workflows: WorkflowLedger = field(default_factory=WorkflowLedger)  # the ones the loop started
    # The engine's newest reports as JSON text (``PolicyEngine.latest_json``), saved as the
    # engine's "latest" without parsing and dumping them again every tick; None: in ``engine``.
    engine_latest: list[str] | None = None

    @classmethod
    def load(cls, path: Path, default_start: datetime) -> Progress:
        if not path.exists():
            return cls(sim_start=default_start)
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        engine = dict(data["engine"])
        if "engine_latest" in data:
            engine["latest"] = data["engine_latest"]
        return cls(
            sim_start=datetime.fromisoformat(data["sim_start"]),
            ticks=int(data["ticks"]),
            journal=list(data["journal"]),
            engine=engine,
            workflows=WorkflowLedger.from_json(dict(data["workflows"]), dict(data.get("closed", {}))),
        )

    def save(self, path: Path) -> None:
        # The engine's newest reports are written as the JSON text they already are (no parse
        # and dump of every report each tick); ``to_dict`` parses them for other stores.
        open_, closed = self.workflows.to_json()
        raw = None if self.engine_latest is None else {"engine_latest": self.engine_latest}
        _atomic_write(path, self._plain(open_, closed), raw)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (``json.dumps(..., default=str)``), read back by ``from_dict``."""
        open_, closed = self.workflows.to_json()
        data = self._plain(open_, closed)
        if self.engine_latest is not None:
            data["engine_latest"] = [json.loads(item) for item in self.engine_latest]
        return data

    def _plain(self, open_: dict[str, Any], closed: dict[str, Any]) -> dict[str, Any]:
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
