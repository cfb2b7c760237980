"""Budgets and rate limits on automatic actions, per site and calendar day.

None of the alerting systems we learn from has them; for physical actions they matter: a
runaway policy must not place fifty automatic orders. Beyond the budget an action is not dropped,
it needs approval, and the reason says which limit was reached.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from policies.base import Frozen
from policies.models import ApprovalRequirement, Autonomy, ProposedAction


class Budget(Frozen):
    """Limits on what runs without a person, per site and calendar day (of ``ctx.now``)."""

    max_auto_actions_per_day: int | None = Field(default=10, ge=0)
    max_auto_spend_per_day: float | None = Field(default=5000.0, ge=0)
    approver_roles: tuple[str, ...] = ("plant_manager",)


class BudgetLedger:
    """Counts automatic actions and their cost per (site, day); gates what exceeds the budget."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._spent: dict[tuple[str, date], tuple[int, float]] = {}

    def state(self) -> list[list[object]]:
        """Counts as JSON-able rows ``[site, day, actions, spend]``."""
        return [
            [site, day.isoformat(), n, spent] for (site, day), (n, spent) in self._spent.items()
        ]

    def load(self, rows: list[list[Any]]) -> None:
        self._spent = {
            (str(site), date.fromisoformat(str(day))): (int(n), float(spent))
            for site, day, n, spent in rows
        }

    def charge(
        self, proposal: ProposedAction, site: str, now: datetime
    ) -> tuple[ProposedAction, str]:
        """The proposal as it may run (auto, or gated to approve) and a note if it was gated."""
        if proposal.autonomy != Autonomy.AUTO:
            return proposal, ""
        budget = self.budget
        slot = (site, now.date())
        count, spent = self._spent.get(slot, (0, 0.0))
        reason = ""
        if (
            budget.max_auto_actions_per_day is not None
            and count + 1 > budget.max_auto_actions_per_day
        ):
            reason = (
                f"daily limit of {budget.max_auto_actions_per_day} automatic actions for site "
                f"{site or '-'} reached on {slot[1]}"
            )
        elif (
            budget.max_auto_spend_per_day is not None
            and spent + proposal.estimated_cost > budget.max_auto_spend_per_day
        ):
            reason = (
                f"automatic spend budget exhausted: {spent:.2f} + {proposal.estimated_cost:.2f} "
                f"{proposal.currency} would exceed {budget.max_auto_spend_per_day:.2f} "
                f"{proposal.currency} for site {site or '-'} on {slot[1]}"
            )
        if not reason:
            self._spent[slot] = (count + 1, spent + proposal.estimated_cost)
            return proposal, ""
        gated = proposal.model_copy(
            update={
                "autonomy": Autonomy.APPROVE,
                "approval": ApprovalRequirement(
                    roles=budget.approver_roles, tier="budget", reason=reason
                ),
            }
        )
        return gated, f"Needs approval: {reason}."


_RANK = {Autonomy.SUGGEST: 0, Autonomy.APPROVE: 1, Autonomy.AUTO: 2}


def cap_autonomy(
    proposal: ProposedAction, ceiling: Autonomy | None, policy_id: str, roles: tuple[str, ...]
) -> tuple[ProposedAction, str]:
    """Lower a proposal's autonomy to the plant's ceiling for the policy (e.g. a new policy
    runs as ``suggest`` until the team trusts it); returns the note that says so."""
    if ceiling is None or _RANK[proposal.autonomy] <= _RANK[ceiling]:
        return proposal, ""
    note = f"autonomy of policy {policy_id} is capped at {ceiling.value} by the plant configuration"
    update: dict[str, object] = {"autonomy": ceiling}
    if ceiling is Autonomy.APPROVE and proposal.approval is None:
        update["approval"] = ApprovalRequirement(roles=roles, tier="capped", reason=note)
    if ceiling is Autonomy.SUGGEST:
        update["approval"] = None
    return proposal.model_copy(update=update), f"Capped: {note}."
