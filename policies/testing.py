"""Run the cases that ship beside each policy; helpers to build reports for cases and tests.

A policy passes when it has at least one case that must fire and one that must not, and every
case holds. ``autoops policy test`` prints the result like pytest and exits non-zero otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.models import (
    AssetKind,
    FaultKind,
    HealthReport,
    Indicator,
    RulEstimate,
    SensorFault,
    Status,
)
from policies.base import Case
from policies.loader import PolicyFile

T0 = datetime(2026, 3, 2, 6, 0)  # a Monday morning; cases use fixed times so they never drift


def report(
    asset_id: str,
    *,
    time: datetime = T0,
    kind: AssetKind = AssetKind.MACHINE,
    status: Status = Status.GREEN,
    health: float | None = None,
    indicators: Mapping[str, float | tuple[float, str]] | None = None,
    rul_h: float | None = None,
    findings: Iterable[str] = (),
    faults: Mapping[str, FaultKind] | None = None,
    seq: int = 0,
) -> HealthReport:
    """A health report as an agent would publish it, from the few values a case cares about."""
    default_health = {Status.GREEN: 0.95, Status.AMBER: 0.6, Status.RED: 0.2, Status.UNKNOWN: 0.0}
    inds = tuple(
        Indicator(name=name, value=v[0], unit=v[1])
        if isinstance(v, tuple)
        else Indicator(name=name, value=v)
        for name, v in (indicators or {}).items()
    )
    rul = (
        RulEstimate(value=rul_h, lower=rul_h * 0.7, upper=rul_h * 1.3, unit="h", method="case")
        if rul_h is not None
        else None
    )
    return HealthReport(
        report_id=HealthReport.make_id(asset_id, seq),
        asset_id=asset_id,
        asset_kind=kind,
        seq=seq,
        time=time,
        status=status,
        health_score=default_health[status] if health is None else health,
        indicators=inds,
        rul=rul,
        findings=tuple(findings),
        sensor_faults=tuple(
            SensorFault(sensor=s, kind=k, detail=f"{k.value} on {s}")
            for s, k in (faults or {}).items()
        ),
        baseline_ready=True,
    )


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


@dataclass(frozen=True)
class CaseResult:
    policy_id: str
    case: str
    passed: bool
    message: str = ""
    where: str = ""  # the cases file


def _check(pf: PolicyFile, case: Case) -> str:
    """Empty string when the case holds, else what went wrong."""
    policy = pf.loaded.policy
    try:
        params = policy.resolve_params(dict(case.params))
        proposals = policy.evaluate(list(case.reports), case.ctx, params)
    except (
        Exception
    ) as exc:  # a case that crashes the policy is a failing case, not a crash of the run
        return f"evaluate raised {type(exc).__name__}: {exc}"
    kinds = [p.action.kind for p in proposals]
    if case.expect == "silent":
        return (
            "" if not proposals else f"expected no action, got {kinds}: {proposals[0].explanation}"
        )
    if not proposals:
        return "expected an action, got none"
    missing = [k for k in case.kinds if k not in kinds]
    if missing:
        return f"expected action kinds {list(case.kinds)}, got {kinds}"
    forbidden = [k for k in case.forbidden_kinds if k in kinds]
    if forbidden:
        return f"action kinds {forbidden} must never be proposed here, got {kinds}"
    if case.autonomy is not None:
        wrong = [
            f"{p.action.kind}={p.autonomy.value}" for p in proposals if p.autonomy != case.autonomy
        ]
        if wrong:
            return f"expected autonomy {case.autonomy.value}, got {wrong}"
    if any(not p.explanation.strip() for p in proposals):
        return "every proposal needs an explanation a person can read"
    return ""


def run_cases(files: Iterable[PolicyFile]) -> list[CaseResult]:
    """One result per case, plus a failing result for every policy without both kinds of case."""
    results: list[CaseResult] = []
    for pf in files:
        pid = pf.loaded.policy.id
        where = pf.cases_path or pf.loaded.path
        if not pf.cases:
            results.append(
                CaseResult(
                    pid,
                    "<cases>",
                    False,
                    f"policy has no cases; add {pid} cases in a *_cases.py beside {pf.loaded.path}",
                    where,
                )
            )
            continue
        expects = {c.expect for c in pf.cases}
        for needed in ("fires", "silent"):
            if needed not in expects:
                results.append(
                    CaseResult(
                        pid,
                        "<cases>",
                        False,
                        f"policy needs at least one case that {'fires' if needed == 'fires' else 'must not fire'}",
                        where,
                    )
                )
        for case in pf.cases:
            msg = _check(pf, case)
            results.append(CaseResult(pid, case.name, not msg, msg, case.where or where))
    return results
