"""How right were the policies? Outcomes per policy and version (Maximo Predict-style tracking).

    actions         decisions that started a workflow (something was done)
    confirmed       the technician found the predicted fault
    no_fault_found  the technician found nothing
    missed          breakdowns (asset failed red) with no open decision on the asset, counted
                    against every policy that watches that asset
    precision       confirmed / (confirmed + no_fault_found); None before any finding
    median_lead_h   median hours from the asset's first amber to the confirmed fault
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ActionRecord:
    policy_id: str
    policy_version: str
    asset_id: str | None
    finding: str | None  # "confirmed" | "no_fault_found" | "other" | None (open)
    finding_at: datetime | None = None
    first_amber_at: datetime | None = None


@dataclass(frozen=True)
class PolicyOutcome:
    policy_id: str
    policy_version: str
    actions: int
    confirmed: int
    no_fault_found: int
    missed: int
    precision: float | None
    median_lead_h: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "policy_id": self.policy_id,
            "version": self.policy_version,
            "actions": self.actions,
            "confirmed": self.confirmed,
            "no_fault_found": self.no_fault_found,
            "missed": self.missed,
            "precision": self.precision,
            "median_lead_h": self.median_lead_h,
        }


def precision(confirmed: int, no_fault_found: int) -> float | None:
    judged = confirmed + no_fault_found
    return confirmed / judged if judged else None


def policy_outcomes(
    actions: Iterable[ActionRecord],
    missed_by_policy: Mapping[tuple[str, str], int] | None = None,
) -> list[PolicyOutcome]:
    """One row per (policy, version) seen in the actions or among the missed failures."""
    grouped: dict[tuple[str, str], list[ActionRecord]] = {}
    for action in actions:
        grouped.setdefault((action.policy_id, action.policy_version), []).append(action)
    missed_by_policy = missed_by_policy or {}
    out = []
    for key in sorted(set(grouped) | set(missed_by_policy)):
        rows = grouped.get(key, [])
        confirmed = [a for a in rows if a.finding == "confirmed"]
        nff = sum(1 for a in rows if a.finding == "no_fault_found")
        leads: Sequence[float] = [
            (a.finding_at - a.first_amber_at).total_seconds() / 3600
            for a in confirmed
            if a.finding_at is not None and a.first_amber_at is not None
        ]
        out.append(
            PolicyOutcome(
                policy_id=key[0],
                policy_version=key[1],
                actions=len(rows),
                confirmed=len(confirmed),
                no_fault_found=nff,
                missed=missed_by_policy.get(key, 0),
                precision=precision(len(confirmed), nff),
                median_lead_h=round(statistics.median(leads), 2) if leads else None,
            )
        )
    return out
