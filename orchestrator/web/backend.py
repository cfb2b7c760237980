"""What the web app needs from the running system. The orchestrator implements it over Temporal,
the Ray fleet and the decision log; the web layer knows nothing of them."""

from __future__ import annotations

from typing import Protocol

from orchestrator.web.models import ActResult, ApprovalItem, AssetTile, DecisionRow, WorkflowView


class WebBackend(Protocol):
    temporal_ui_url: str

    async def pending_approvals(self) -> list[ApprovalItem]:
        """Every approval still waiting for a person, in any state that accepts a vote."""
        ...

    async def approval(self, approval_id: str) -> ApprovalItem | None: ...

    async def vote(
        self, approval_id: str, *, user: str, role: str, limit: float, approve: bool, comment: str
    ) -> ActResult:
        """Send the vote to the workflow (whose validator checks again) and report the outcome."""
        ...

    async def resolve(
        self, approval_id: str, *, user: str, role: str, retry: bool, comment: str
    ) -> ActResult:
        """Answer an ``attention`` item: retry the failed step now, or cancel the workflow."""
        ...

    async def close_review(self, approval_id: str, *, user: str, role: str, comment: str) -> ActResult:
        """Close a ``review`` item with what the person found or did."""
        ...

    async def board(self) -> list[AssetTile]: ...

    async def workflow(self, workflow_id: str) -> WorkflowView | None: ...

    async def decisions(self, query: str = "", limit: int = 200) -> list[DecisionRow]: ...
