"""Backtest: replay history through the agents and the policies in shadow mode.

Nothing is executed: every would-be action is a ``shadow`` decision (Kyverno's audit mode). The
production schedule of the past is rarely at hand, so planned windows are generated: one window
of ``window_h`` hours every ``every_h`` hours starting at ``first_window_hour`` o'clock (a nightly
maintenance slot by default). The result lists per policy the decisions with times and words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field

from agents.errors import PolicyError
from agents.models import HealthReport
from policies.base import Frozen, MachineInfo, PlannedWindow, PolicyContext
from policies.engine import EngineConfig, LoadedPolicy, PolicyEngine
from policies.models import Decision


class WindowPlan(Frozen):
    """Generated planned windows: ``window_h`` long, every ``every_h`` hours, from ``first_window_hour``."""

    every_h: float = Field(default=24.0, gt=0)
    window_h: float = Field(default=6.0, gt=0)
    first_window_hour: float = Field(default=22.0, ge=0, lt=24)
    horizon_h: float = Field(default=14 * 24.0, gt=0)  # how far ahead a policy may look

    def windows(self, now: datetime, asset_id: str | None = None) -> tuple[PlannedWindow, ...]:
        """Windows starting from ``now`` up to the horizon, on a grid fixed in time (not on ``now``)."""
        anchor = datetime(2000, 1, 1, tzinfo=now.tzinfo) + timedelta(hours=self.first_window_hour)
        step = timedelta(hours=self.every_h)
        start = anchor + step * math.ceil((now - anchor) / step)
        end = now + timedelta(hours=self.horizon_h)
        out: list[PlannedWindow] = []
        while start <= end:
            out.append(
                PlannedWindow(
                    start=start,
                    end=start + timedelta(hours=self.window_h),
                    asset_id=asset_id,
                    label="generated",
                )
            )
            start += step
        return tuple(out)


class BacktestDecision(Frozen):
    time: datetime
    decision_id: str
    outcome: str
    asset_id: str | None
    action: str | None
    autonomy: str | None
    explanation: str


class BacktestResult(Frozen):
    history: str = ""
    asset_id: str = ""
    reports: int
    first_time: datetime | None
    last_time: datetime | None
    policies: dict[str, list[BacktestDecision]]
    statuses: dict[str, int] = Field(default_factory=dict)  # reports per status


def run_backtest(
    reports: Iterable[HealthReport],
    policies: Sequence[LoadedPolicy],
    *,
    context: Callable[[HealthReport], PolicyContext],
    config: EngineConfig | None = None,
    on_decision: Callable[[Decision], Any] | None = None,
) -> tuple[BacktestResult, list[Decision]]:
    """Feed reports one by one; evaluate at each report's time in shadow mode."""
    cfg = (config or EngineConfig()).model_copy(update={"shadow": True})
    engine = PolicyEngine(policies, cfg)
    decisions: list[Decision] = []
    count = 0
    first: datetime | None = None
    last: datetime | None = None
    statuses: dict[str, int] = {}
    for report in reports:
        count += 1
        first = first or report.time
        last = report.time
        statuses[report.status.value] = statuses.get(report.status.value, 0) + 1
        for d in engine.process([report], context(report)):
            decisions.append(d)
            if on_decision is not None:
                on_decision(d)
    grouped: dict[str, list[BacktestDecision]] = {lp.policy.id: [] for lp in policies}
    for d in decisions:
        grouped[d.policy_id].append(
            BacktestDecision(
                time=d.time,
                decision_id=d.decision_id,
                outcome=d.outcome.value,
                asset_id=d.asset_id,
                action=d.proposed.action.kind if d.proposed else None,
                autonomy=d.proposed.autonomy.value if d.proposed else None,
                explanation=d.explanation,
            )
        )
    result = BacktestResult(
        reports=count, first_time=first, last_time=last, policies=grouped, statuses=statuses
    )
    return result, decisions


def machine_reports(
    history: str | Path, asset_toml: str | Path
) -> tuple[str, Iterator[HealthReport]]:
    """The machine agent's reports over a readings CSV, as ``autoops replay`` would print them."""
    from agents.machine import MachineAgent
    from agents.replay import load_asset_toml, read_readings_csv

    asset = load_asset_toml(asset_toml)
    agent = MachineAgent(asset)
    readings = read_readings_csv(history, asset.id, asset.sensors)
    return asset.id, (agent.assess(r) for r in readings)


def machine_context(
    asset_toml: str | Path,
    plan: WindowPlan,
    site: str = "backtest",
    stock: dict[str, float] | None = None,
) -> Callable[[HealthReport], PolicyContext]:
    """Context per report: generated windows, the asset's production facts, the given stock."""
    from agents.replay import load_asset_toml

    asset = load_asset_toml(asset_toml)
    info = MachineInfo(
        asset_id=asset.id,
        bottleneck=asset.bottleneck,
        capabilities=asset.capabilities,
        line=asset.line or "",
    )

    def ctx(report: HealthReport) -> PolicyContext:
        return PolicyContext(
            now=report.time,
            site=site,
            planned_windows=plan.windows(report.time),
            stock=dict(stock or {}),
            machines={asset.id: info},
        )

    return ctx


def select(policies: Sequence[LoadedPolicy], policy_id: str | None) -> list[LoadedPolicy]:
    if policy_id is None:
        return list(policies)
    chosen = [lp for lp in policies if lp.policy.id == policy_id]
    if not chosen:
        raise PolicyError(
            f"no policy {policy_id!r}; known: {sorted(lp.policy.id for lp in policies)} "
            "(see `autoops policy list`)"
        )
    return chosen
