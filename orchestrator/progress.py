"""What the loop keeps between ticks and across restarts: its progress file and report history."""

from __future__ import annotations

import json
import os
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agents.models import HealthReport
from orchestrator.ledger import WorkflowLedger


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
        data = json.loads(path.read_text())
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
        open_, closed = self.workflows.to_json()
        _atomic_write(
            path,
            {
                "sim_start": self.sim_start.isoformat(),
                "ticks": self.ticks,
                "journal": self.journal,
                "engine": self.engine,
                "workflows": open_,
                "closed": closed,
            },
            None if self.engine_latest is None else {"engine_latest": self.engine_latest},
        )


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
