"""Backtests over the machine twin: maintenance proposed once, early enough for a planned window."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.machine import MachineAgent
from agents.models import HealthReport
from agents.simulator.machine_twin import FLATLINE_FAULTS, MachineTwin
from policies.backtest import WindowPlan, machine_context, machine_reports, run_backtest
from policies.base import CatalogItem, MachineInfo, PolicyContext
from policies.loader import load_all
from policies.models import DecisionOutcome
from tests.policies.helpers import write_twin_history

POLICIES = [pf.loaded for pf in load_all()]
PLAN = WindowPlan(every_h=24.0, window_h=6.0, first_window_hour=22.0)
# The kit is out of stock at a local distributor (12 h): the job's window must be one it can make.
# (With a lead time of days the twin's ~60 h RUL lower bound leaves no planned window: a stop.)
KIT = CatalogItem(sku="BRG-KIT-6205", supplier="skf-dist", unit_price=180.0, lead_time_days=0.5)


def twin_context(report: HealthReport) -> PolicyContext:
    return PolicyContext(
        now=report.time,
        site="plant-a",
        planned_windows=PLAN.windows(report.time),
        stock={"BRG-KIT-6205": 0},
        catalog={"BRG-KIT-6205": KIT},
        machines={
            "mill-1": MachineInfo(
                asset_id="mill-1",
                bottleneck=True,
                queued_jobs=3,
                capabilities=("milling",),
                alternatives=("mill-2",),
            )
        },
    )


@pytest.mark.parametrize("seed", [1, 3])
def test_bearing_wear_backtest_proposes_maintenance_once_in_a_planned_window(seed: int) -> None:
    twin = MachineTwin(seed)
    agent = MachineAgent(twin.asset)
    failure = twin.failure_at
    assert failure is not None
    result, decisions = run_backtest(
        (agent.assess(r) for r in twin.readings()), POLICIES, context=twin_context
    )
    assert result.reports > 500
    maintenance = [
        d for d in decisions if d.proposed and d.proposed.action.kind == "schedule_maintenance"
    ]
    assert len(maintenance) == 1, [d.explanation for d in maintenance]  # once, not once per report
    d = maintenance[0]
    assert d.outcome is DecisionOutcome.SHADOW and d.policy_id == "bearing-wear"
    lead_h = (failure - d.time).total_seconds() / 3600
    assert lead_h >= 50.0
    # a planned window was chosen, it starts after the decision and the job ends before failure
    window_start = d.input_values["window_start"]
    assert window_start is not None
    start = d.proposed.action.latest_start
    assert start is not None and start < failure
    window = datetime.fromisoformat(window_start)
    assert d.time <= window and window + timedelta(hours=d.proposed.action.duration_h) < failure
    # ... and not before the kit can be here (its lead time plus the policy's margin)
    earliest = d.proposed.action.earliest_start
    assert earliest is not None and earliest >= d.time + timedelta(days=KIT.lead_time_days)
    assert window >= earliest
    assert "planned window" in d.explanation
    # the kit is short: it travels with the job (whose workflow orders it), never a second order
    assert [line.sku for line in d.proposed.action.parts] == ["BRG-KIT-6205"]
    assert "the job orders 1" in d.explanation
    assert not [d for d in decisions if d.proposed and d.proposed.action.kind == "order_parts"]
    # nothing was executed: every decision of a backtest is shadow (or an explicit non-action)
    assert DecisionOutcome.PROPOSED not in {d.outcome for d in decisions}


def test_flatlined_instruments_get_instrument_checks_and_no_machine_action() -> None:
    twin = MachineTwin(2, onset_h=math.inf, life_h=math.inf, faults=FLATLINE_FAULTS)
    agent = MachineAgent(twin.asset)
    _, decisions = run_backtest(
        (agent.assess(r) for r in twin.readings(until_h=140.0)), POLICIES, context=twin_context
    )
    acted = [d for d in decisions if d.proposed is not None and d.outcome is DecisionOutcome.SHADOW]
    assert acted, "the injected faults must lead to instrument checks"
    assert {d.policy_id for d in acted} == {"sensor-fault"}
    sensors = {d.proposed.action.sensor for d in acted}
    assert "bearing_temp" in sensors  # the 24 h flatline
    assert all(d.proposed.action.instrument_check for d in acted)


def test_backtest_from_a_recorded_csv_history(tmp_path: Path) -> None:
    csv_path, toml_path, failure = write_twin_history(tmp_path, seed=1)
    asset_id, reports = machine_reports(csv_path, toml_path)
    bearing = [lp for lp in POLICIES if lp.policy.id == "bearing-wear"]
    result, decisions = run_backtest(reports, bearing, context=machine_context(toml_path, PLAN))
    assert asset_id == "mill-1" and result.reports > 500
    maint = [d for d in result.policies["bearing-wear"] if d.action == "schedule_maintenance"]
    assert len(maint) == 1
    assert (failure - maint[0].time).total_seconds() / 3600 >= 50.0


def test_window_plan_is_a_fixed_grid() -> None:
    now = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)
    windows = PLAN.windows(now)
    assert windows[0].start == datetime(2026, 1, 6, 22, 0, tzinfo=UTC)  # the running one is past
    assert all(w.duration_h == 6.0 for w in windows)
    assert PLAN.windows(now + timedelta(hours=1))[0].start == windows[0].start
