"""The end-of-shift report as a JSON-able dict, computed from the history store.

Per shift: OEE per machine and line (ISO 22400-2), downtime by reason, energy per good unit,
yield by line. Over the comparison window (``compare_days`` up to the shift's end): yield by
shift and by material batch, with the differences a two-proportion z-test finds significant.
Cumulative up to the shift's end: MTBF / MTTR per asset (EN 15341) and the policies' outcomes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator.history import schema
from orchestrator.history.store import HistoryStore
from orchestrator.kpi.iso22400 import ShiftWindow, oee, overlap_h
from orchestrator.kpi.maintenance import energy_per_unit, mtbf_h, mttr_h
from orchestrator.kpi.outcomes import ActionRecord, policy_outcomes
from orchestrator.kpi.significance import two_proportion_z

MAINTENANCE_KINDS = ("schedule_maintenance",)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class _Times:
    """Planned busy time, run time, ideal time and counts of one machine or line."""

    def __init__(self) -> None:
        self.pbt_h = 0.0
        self.run_h = 0.0
        self.ideal_h = 0.0
        self.produced = 0
        self.good = 0
        self.down: dict[str, float] = defaultdict(float)

    def figures(self) -> dict[str, Any]:
        cycle = self.ideal_h * 3600 / self.produced if self.produced else 0.0
        f = oee(planned_busy_h=self.pbt_h, run_h=min(self.run_h, self.pbt_h),
                ideal_cycle_s=cycle, produced=self.produced, good=self.good)
        return {
            "availability": _r(f.availability), "performance": _r(f.performance),
            "quality": _r(f.quality), "oee": _r(f.availability * f.performance * f.quality, 6),
            "planned_busy_h": _r(self.pbt_h, 3), "run_h": _r(self.run_h, 3),
            "produced": self.produced, "good": self.good, "scrap": self.produced - self.good,
            "downtime_h": {k: _r(v, 3) for k, v in sorted(self.down.items())},
        }


def _times(store: HistoryStore, start: datetime, end: datetime) -> tuple[dict[str, _Times], dict[str, str]]:
    machines: dict[str, _Times] = defaultdict(_Times)
    line_of: dict[str, str] = {}
    for row in store.between(schema.machine_states, start, end):
        hours = overlap_h(row["start"], row["end"], start, end)
        t = machines[row["asset_id"]]
        if row["planned"]:
            continue
        t.pbt_h += hours
        if row["state"] == "running":
            t.run_h += hours
        else:
            t.down[row["reason"] or row["state"]] += hours
    for row in store.between(schema.production_counts, start, end):
        if not start <= row["start"] < end:
            continue
        t = machines[row["asset_id"]]
        t.produced += row["produced"]
        t.good += row["good"]
        t.ideal_h += row["ideal_cycle_s"] * row["produced"] / 3600
        line_of[row["asset_id"]] = row["line"]
    return machines, line_of


def _yield_groups(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        g = groups[str(row[key])]
        g[0] += row["good"]
        g[1] += row["produced"]
    return {
        name: {"good": good, "produced": produced, "yield": _r(good / produced if produced else None)}
        for name, (good, produced) in sorted(groups.items())
    }


def significant_differences(
    dimension: str, groups: Mapping[str, Mapping[str, Any]], *, alpha: float = 0.01
) -> list[dict[str, Any]]:
    """Each group against the rest of its dimension; only what the z-test finds significant.

    Bonferroni: with k groups each test runs at alpha / k, so twenty batches do not make one
    false finding in five reports. Two groups are one comparison, reported once."""
    total_good = sum(g["good"] for g in groups.values())
    total = sum(g["produced"] for g in groups.values())
    if len(groups) < 2:
        return []
    tests = 1 if len(groups) == 2 else len(groups)
    out: list[dict[str, Any]] = []
    for name, g in groups.items():
        rest_good, rest = total_good - g["good"], total - g["produced"]
        test = two_proportion_z(g["good"], g["produced"], rest_good, rest, alpha=alpha / tests)
        if test.significant and not (len(groups) == 2 and out):
            out.append({
                "dimension": dimension, "group": name, "yield": _r(test.p1), "rest_yield": _r(test.p2),
                "z": _r(test.z, 2), "p_value": float(f"{test.p_value:.3g}"),
                "finding": f"{dimension} {name}: yield {test.p1:.1%} vs {test.p2:.1%} elsewhere "
                           f"(p={test.p_value:.2g})",
            })
    return out


def _shift_names(schedule: Any, rows: list[dict[str, Any]]) -> None:
    """Label each count row with the shift it was made in (one calendar for the whole window)."""
    from orchestrator.kpi.calendar import shift_windows

    if not rows:
        return
    windows = shift_windows(schedule, min(r["start"] for r in rows), max(r["end"] for r in rows))
    for row in rows:
        row["shift"] = next((w.name for w in windows if w.start <= row["start"] < w.end), "no shift")


def _first_amber(changes: Sequence[Mapping[str, Any]], asset: str | None, before: datetime) -> datetime | None:
    """Start of the asset's last amber/red episode that began before ``before``."""
    first = None
    for c in changes:
        if c["asset_id"] != asset or c["at"] > before:
            continue
        if c["status"] == "green":
            first = None
        elif first is None and c["status"] in ("amber", "red"):
            first = c["at"]
    return first


def outcomes(
    store: HistoryStore, until: datetime, watchers: Mapping[str, Sequence[tuple[str, str]]] | None = None
) -> list[dict[str, Any]]:
    """Per policy and version, up to ``until``. ``watchers``: asset -> policies that watch it."""
    decisions = [d for d in store.rows(schema.decisions) if d["at"] <= until]
    flows = {w["workflow_id"]: w for w in store.rows(schema.workflow_outcomes)}
    changes = store.rows(schema.status_changes, order_by=[schema.status_changes.c.at])
    actions = []
    for d in decisions:
        if not d["workflow_id"]:
            continue
        flow = flows.get(d["workflow_id"], {})
        finding_at = flow.get("finding_at")
        known = finding_at is not None and finding_at <= until
        actions.append(ActionRecord(
            policy_id=d["policy_id"], policy_version=d["policy_version"], asset_id=d["asset_id"],
            finding=flow.get("finding") if known else None,
            finding_at=finding_at if known else None,
            first_amber_at=_first_amber(changes, d["asset_id"], d["at"]),
        ))
    maintainers = sorted({(d["policy_id"], d["policy_version"]) for d in decisions
                          if d["action_kind"] in MAINTENANCE_KINDS})
    missed: dict[tuple[str, str], int] = defaultdict(int)
    for b in store.rows(schema.breakdowns):
        if b["at"] > until or b["open_decision"]:
            continue
        watching = [tuple(w) for w in (watchers or {}).get(b["asset_id"], ())]
        # Blame the policies meant to catch this: those that watch the asset and have proposed
        # maintenance before; else every policy watching it; else nobody in particular.
        blamed = ([w for w in watching if w in maintainers] or watching or maintainers
                  or [("(no policy)", "-")])
        for key in blamed:
            missed[tuple(key)] += 1  # type: ignore[index]
    return [o.as_dict() for o in policy_outcomes(actions, missed)]


def reliability(store: HistoryStore, until: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """MTBF and MTTR (hours) per asset, from the start of the history to ``until``.

    Failures: breakdowns and confirmed faults found by a work order. Repairs: each work order's
    time to restore (workflow start -> work order completed) and each breakdown's downtime."""
    run: dict[str, float] = defaultdict(float)
    broken: dict[str, float] = defaultdict(float)
    for row in store.rows(schema.machine_states, schema.machine_states.c.start < until):
        hours = overlap_h(row["start"], row["end"], row["start"], until)
        if row["state"] == "running":
            run[row["asset_id"]] += hours
        elif row["reason"] == "breakdown":
            broken[row["asset_id"]] += hours
    failures: dict[str, int] = defaultdict(int)
    repairs: dict[str, list[float]] = defaultdict(list)
    for b in store.rows(schema.breakdowns):
        if b["at"] <= until:
            failures[b["asset_id"]] += 1
            repairs[b["asset_id"]].append(broken[b["asset_id"]])
    for w in store.rows(schema.workflow_outcomes):
        if w["finding_at"] is None or w["finding_at"] > until or not w["asset_id"]:
            continue
        if w["kind"] not in MAINTENANCE_KINDS:
            continue  # an instrument check's sensor fault is no failure of the machine
        if w["finding"] == "confirmed":
            failures[w["asset_id"]] += 1
        if w["started_at"] is not None:
            repairs[w["asset_id"]].append((w["finding_at"] - w["started_at"]).total_seconds() / 3600)
    assets = sorted(set(run) | set(failures))
    mtbf = {a: _r(mtbf_h(run[a], failures[a]), 2) for a in assets}
    mttr = {a: _r(mttr_h(repairs[a]), 2) for a in assets}
    return mtbf, mttr


def build_shift_report(
    store: HistoryStore,
    config: Any,
    shift: ShiftWindow,
    *,
    compare_days: float = 7.0,
    watchers: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    alpha: float = 0.01,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The report of one shift (see the module docstring).

    ``as_of``: what is known when the report is made (default the shift's end): the cumulative
    figures (MTBF / MTTR, the policies' outcomes) count findings up to then. A report made later
    (``autoops report shift`` after the fact) includes the findings that came in since."""
    known = max(as_of or shift.end, shift.end)
    machines, line_of = _times(store, shift.start, shift.end)
    lines: dict[str, _Times] = defaultdict(_Times)
    downtime: dict[str, float] = defaultdict(float)
    for asset, t in machines.items():
        line = lines[line_of.get(asset, "")]
        line.pbt_h += t.pbt_h
        line.run_h += t.run_h
        line.ideal_h += t.ideal_h
        line.produced += t.produced
        line.good += t.good
        for reason, hours in t.down.items():
            line.down[reason] += hours
            downtime[reason] += hours
    energy = store.between(schema.energy_readings, shift.start, shift.end)
    kwh_line: dict[str, float] = defaultdict(float)
    for e in energy:
        kwh_line[e["line"]] += e["kwh"]
    counts = [r for r in store.between(schema.production_counts, shift.start, shift.end)
              if shift.start <= r["start"] < shift.end]
    window = store.between(schema.production_counts, shift.end - timedelta(days=compare_days), shift.end)
    _shift_names(config.schedule, window)
    by_line = _yield_groups(counts, "line")
    by_shift = _yield_groups(window, "shift")
    by_batch = _yield_groups(window, "batch")
    findings = (significant_differences("line", by_line, alpha=alpha)
                + significant_differences("shift", by_shift, alpha=alpha)
                + significant_differences("batch", by_batch, alpha=alpha))
    mtbf, mttr = reliability(store, known)
    good = sum(t.good for t in machines.values())
    policies = outcomes(store, known, watchers)
    return {
        "site": config.site,
        "shift": {"key": shift.key, "name": shift.name, "day": shift.day.isoformat(),
                  "start": shift.start.isoformat(), "end": shift.end.isoformat(),
                  "timezone": config.schedule.timezone, "outcomes_as_of": known.isoformat()},
        "machines": {a: {"line": line_of.get(a, ""), **t.figures()} for a, t in sorted(machines.items())},
        "lines": {name: lines[name].figures() for name in sorted(lines)},
        "downtime": {k: _r(v, 3) for k, v in sorted(downtime.items(), key=lambda kv: -kv[1])},
        "mtbf_h": mtbf,
        "mttr_h": mttr,
        "energy_per_unit": {
            "unit": "kWh/good unit",
            "plant": _r(energy_per_unit(sum(kwh_line.values()), good), 4),
            "by_line": {line: _r(energy_per_unit(kwh, lines[line].good if line in lines else 0), 4)
                        for line, kwh in sorted(kwh_line.items())},
            "kwh": _r(sum(kwh_line.values()), 2),
        },
        "yield": {"by_line": by_line, "by_shift": by_shift, "by_batch": by_batch,
                  "compare_days": compare_days, "alpha": alpha, "significant": findings},
        "policies": {
            (p["policy_id"] if sum(q["policy_id"] == p["policy_id"] for q in policies) == 1
             else f"{p['policy_id']}@{p['version']}"): p
            for p in policies
        },
    }


def policy_report(store: HistoryStore, until: datetime, policy_id: str | None = None,
                  watchers: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> list[dict[str, Any]]:
    """Outcome figures per policy version (``autoops policy report``)."""
    rows = outcomes(store, until, watchers)
    return [r for r in rows if policy_id is None or r["policy_id"] == policy_id]
