"""The loop's ledger of the workflows it started: which are open, on which asset, for which problem.

Open workflows keep their problems' dedup keys out of the policies' way (``open_keys``); closed
ones are kept with their outcome (a business key reused by a later problem gets ``<id>#2``, ...).
Saved in ``progress.json`` as ``"workflows"`` (open, by workflow id) and ``"closed"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class WorkflowRecord(BaseModel):
    """One workflow the loop started, and what the loop has done about it since."""

    # Not frozen: the loop marks the steps it did once (twin repaired, agent told). Unknown keys
    # of a newer file are ignored, not refused: the progress file is ours, not a boundary.
    model_config = ConfigDict(extra="ignore", validate_assignment=True)

    workflow_id: str = ""
    kind: str  # the action kind (``order_parts``, ...): its registration is in ``workflows.kinds``
    dedup_key: str = ""
    decision_id: str = ""
    asset_id: str | None = None
    instrument_check: bool = False  # a work order for the sensor, not the machine
    started_at: datetime | None = None
    status: str = "running"  # once closed: completed / failed / terminated / ...
    closed_at: datetime | None = None
    twin_done: bool = False  # the simulation's twin was repaired for it (once)
    agent_told: bool = False  # the asset's agent was told the maintenance was done (once)


class WorkflowLedger:
    """Open and closed workflows by id; iterating it yields the open workflows' ids."""

    def __init__(
        self,
        open_: dict[str, WorkflowRecord] | None = None,
        closed: dict[str, WorkflowRecord] | None = None,
    ) -> None:
        self.open: dict[str, WorkflowRecord] = dict(open_ or {})
        self.closed: dict[str, WorkflowRecord] = dict(closed or {})

    # ---- persistence -------------------------------------------------------------------------
    @classmethod
    def from_json(cls, open_: dict[str, Any], closed: dict[str, Any]) -> WorkflowLedger:
        def records(table: dict[str, Any]) -> dict[str, WorkflowRecord]:
            out = {}
            for key, entry in table.items():
                record = WorkflowRecord.model_validate(entry)
                if not record.workflow_id:
                    record.workflow_id = key.split("#", 1)[0]
                out[key] = record
            return out

        return cls(records(open_), records(closed))

    def to_json(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {k: r.model_dump(mode="json") for k, r in self.open.items()},
            {k: r.model_dump(mode="json") for k, r in self.closed.items()},
        )

    # ---- reading -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(list(self.open))

    def __len__(self) -> int:
        return len(self.open)

    def __contains__(self, workflow_id: object) -> bool:
        return workflow_id in self.open

    def get(self, workflow_id: str) -> WorkflowRecord | None:
        """An open workflow's record."""
        return self.open.get(workflow_id)

    def find(self, workflow_id: str) -> WorkflowRecord | None:
        """A workflow's record, open or (its first run) closed."""
        return self.open.get(workflow_id) or self.closed.get(workflow_id)

    def open_keys(self) -> frozenset[str]:
        """The dedup keys of the problems a workflow is working on."""
        return frozenset(r.dedup_key for r in self.open.values())

    def open_on(self, asset_id: str) -> tuple[str, ...]:
        return tuple(w for w, r in self.open.items() if r.asset_id == asset_id)

    def assets_with_open(self, kind: str) -> set[str]:
        return {r.asset_id for r in self.open.values() if r.kind == kind and r.asset_id}

    # ---- changes -----------------------------------------------------------------------------
    def opened(self, record: WorkflowRecord) -> WorkflowRecord:
        """Record a started workflow; a start that found it running keeps the first record."""
        return self.open.setdefault(record.workflow_id, record)

    def close(self, workflow_id: str, *, status: str, at: datetime) -> WorkflowRecord | None:
        """Move an open workflow to the closed ones, keeping every run of a reused business key."""
        record = self.open.pop(workflow_id, None)
        if record is None:
            return None
        record.status = status
        record.closed_at = at
        key, n = workflow_id, 1
        while key in self.closed:
            n += 1
            key = f"{workflow_id}#{n}"
        self.closed[key] = record
        return record
