"""The six shipped policies: their cases hold, and the engine keeps their promises end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.models import AssetKind, FaultKind, Status
from policies.base import MachineInfo, PlannedWindow, PolicyContext
from policies.engine import PolicyEngine
from policies.loader import load_all
from policies.models import Autonomy, DecisionOutcome
from policies.testing import T0, report, run_cases

FILES = load_all()
BY_ID = {pf.loaded.policy.id: pf for pf in FILES}


@pytest.mark.parametrize("pid", sorted(BY_ID))
def test_every_case_of_every_shipped_policy_holds(pid: str) -> None:
    results = run_cases([BY_ID[pid]])
    failures = [f"{r.case}: {r.message}" for r in results if not r.passed]
    assert failures == []
    expects = {c.expect for c in BY_ID[pid].cases or ()}
    assert expects == {"fires", "silent"}


def test_sensor_fault_on_a_red_machine_never_yields_a_machine_action() -> None:
    engine = PolicyEngine([BY_ID["sensor-fault"].loaded])
    faulty = report("press-1", status=Status.RED, faults={"bearing_temp": FaultKind.FLATLINE})
    out = []
    for minute in range(0, 30, 5):
        out += engine.process(
            [faulty.model_copy(update={"time": T0 + timedelta(minutes=minute)})],
            PolicyContext(now=T0 + timedelta(minutes=minute), site="plant-a"),
        )
    assert len(out) == 1  # after the 5 min for-duration, one check for the whole episode
    action = out[0].proposed.action
    assert (
        action.kind == "create_work_order"
        and action.instrument_check
        and action.sensor == "bearing_temp"
    )


def test_material_shortage_cost_tiers_and_budget() -> None:
    shortage = [
        report(
            f"SKU-{i}",
            kind=AssetKind.INVENTORY,
            status=Status.RED,
            indicators={
                "stockout_in_h": 30.0,
                "lead_time_h": 72.0,
                "suggested_order_qty": 100.0,
                "unit_price": (price, "EUR"),
            },
        )
        for i, price in enumerate((3.0, 4.0, 30.0, 80.0))
    ]
    [cheap, cheap2, mid, big] = PolicyEngine([BY_ID["material-shortage"].loaded]).process(
        shortage, PolicyContext(now=T0, site="plant-a")
    )
    assert (cheap.proposed.autonomy, cheap2.proposed.autonomy) == (Autonomy.AUTO, Autonomy.AUTO)
    assert mid.proposed.autonomy is Autonomy.APPROVE and mid.proposed.approval.roles == ("buyer",)
    assert big.proposed.approval.min_approvers == 2
    assert "plant_manager" in big.proposed.approval.roles
    assert cheap.proposed.action.lines[0].quantity == 100
    assert "inside the 72 h lead time" in cheap.explanation


def test_bearing_wear_maintenance_lands_in_the_planned_window_before_the_rul() -> None:
    windows = (
        PlannedWindow(start=T0 + timedelta(hours=10), end=T0 + timedelta(hours=12)),
        PlannedWindow(start=T0 + timedelta(hours=34), end=T0 + timedelta(hours=42)),
    )
    amber = report(
        "mill-1", status=Status.AMBER, rul_h=80.0, findings=("outer race defect (BPFO)",)
    )
    [d] = PolicyEngine([BY_ID["bearing-wear"].loaded]).process(
        [amber],
        PolicyContext(now=T0, site="plant-a", planned_windows=windows, stock={"BRG-KIT-6205": 3}),
    )
    assert d.outcome is DecisionOutcome.PROPOSED
    # the 2 h window at +10 h is too short for the 4 h job; the weekend stop at +34 h fits and
    # starts before the latest start (RUL lower bound 56 h - 12 h margin - 4 h job = +40 h)
    assert d.input_values["window_start"] == windows[1].start.isoformat()
    assert d.proposed.action.latest_start == T0 + timedelta(hours=40)
    assert d.proposed.approval.roles == ("maintenance_lead",)


def test_bearing_wear_with_the_kit_short_plans_the_first_window_after_the_kit_can_be_here() -> None:
    """Issue 13: the job's window is one the kit can make. 0 in stock, a 2-day catalog lead time
    and the 12 h margin: the kit can be here at +60 h; the nights at +10, +34 and +58 h are
    skipped, the one at +82 h is planned, and the workflow gets that bound as ``earliest_start``."""
    from policies.base import CatalogItem

    nights = tuple(
        PlannedWindow(start=T0 + timedelta(hours=10 + 24 * n), end=T0 + timedelta(hours=14 + 24 * n), label="night")
        for n in range(6)
    )
    kit = CatalogItem(sku="BRG-KIT-6205", supplier="skf", unit_price=420.0, lead_time_days=2.0)
    amber = report("mill-1", status=Status.AMBER, rul_h=400.0, findings=("outer race defect (BPFO)",))
    [d] = PolicyEngine([BY_ID["bearing-wear"].loaded]).process(
        [amber],
        PolicyContext(now=T0, site="plant-a", planned_windows=nights, stock={"BRG-KIT-6205": 0},
                      catalog={"BRG-KIT-6205": kit}),
    )
    assert d.outcome is DecisionOutcome.PROPOSED
    assert d.policy_version == "1.2.0"
    action = d.proposed.action
    assert action.earliest_start == T0 + timedelta(hours=60)
    assert d.input_values["earliest_start"] == action.earliest_start.isoformat()
    assert d.input_values["window_start"] == nights[3].start.isoformat()  # +82 h
    assert f"{nights[3].start:%Y-%m-%d %H:%M}" in d.explanation
    assert f"here by {action.earliest_start:%Y-%m-%d %H:%M}" in d.explanation
    # the same workflow rule picks the same window from the MES's list
    from workflows.maintenance.planning import pick_window
    from workflows.models import Window

    picked = pick_window(
        [Window(start=w.start, end=w.end, name=w.label) for w in nights],
        duration_h=action.duration_h, now=T0, latest_start=action.latest_start,
        earliest_start=action.earliest_start,
    )
    assert picked is not None and picked.start == nights[3].start
    # in stock: no bound, the first night that fits
    [d] = PolicyEngine([BY_ID["bearing-wear"].loaded]).process(
        [amber],
        PolicyContext(now=T0, site="plant-a", planned_windows=nights, stock={"BRG-KIT-6205": 2},
                      catalog={"BRG-KIT-6205": kit}),
    )
    assert d.proposed.action.earliest_start is None
    assert d.input_values["window_start"] == nights[0].start.isoformat()


def test_reroute_moves_work_only_off_a_degraded_bottleneck() -> None:
    machines = {
        "cnc-3": MachineInfo(
            asset_id="cnc-3",
            bottleneck=True,
            queued_jobs=4,
            capabilities=("milling-5ax",),
            alternatives=("cnc-4",),
        )
    }
    engine = PolicyEngine([BY_ID["reroute-bottleneck"].loaded])
    out = []
    for minute in (0, 10, 20):
        out += engine.process(
            [report("cnc-3", time=T0 + timedelta(minutes=minute), status=Status.RED)],
            PolicyContext(now=T0 + timedelta(minutes=minute), machines=machines),
        )
    assert [d.time for d in out] == [T0 + timedelta(minutes=20)]  # 15 min for-duration
    assert out[0].proposed.action.capability == "milling-5ax"


def test_compressor_drift_over_45_days_of_the_energy_twin_is_flagged_once_with_payback() -> None:
    from agents.energy_plant import PlantEnergyAgent
    from agents.simulator.compressor_twin import CompressorTwin, plant_system
    from policies.backtest import run_backtest

    twin = CompressorTwin(seed=1)
    agent = PlantEnergyAgent(plant_system())
    reports = (r for reading in twin.readings(45 * 24.0) for r in agent.assess_all(reading))
    _, decisions = run_backtest(
        reports,
        [BY_ID["compressor-drift"].loaded],
        context=lambda r: PolicyContext(now=r.time, site="plant-a"),
    )
    flags = [d for d in decisions if d.proposed is not None]
    assert len(flags) == 1 and flags[0].asset_id == "C-1"
    flag = flags[0]
    hours_in = (flag.time - twin.start).total_seconds() / 3600
    assert hours_in > twin.drift_start_h  # not before the compressor started to drift
    assert twin.true_drift_pct(hours_in) >= 8.0  # the real drift is there when it fires
    figures = flag.proposed.action.figures
    assert figures["drift_pct"] >= 10.0 and 0 < figures["payback_years"] < 10
    assert "pays back in" in flag.explanation and "32000" in flag.explanation
    assert flag.proposed.autonomy is Autonomy.APPROVE  # a review a person must close


def test_material_shortage_closed_loop_on_the_stock_twin_prevents_the_stock_out() -> None:
    from agents.inventory import InventoryAgent
    from agents.simulator.stock_twin import shortage_twin

    twin = shortage_twin(seed=1)  # line B's demand triples at 60 h; no order: stock-out
    agent = InventoryAgent(twin.item)
    engine = PolicyEngine([BY_ID["material-shortage"].loaded])
    orders = []
    for reading in twin.readings(14 * 24.0):
        r = agent.assess(reading)
        for d in engine.process([r], PolicyContext(now=r.time, site="plant-a")):
            assert d.outcome is DecisionOutcome.PROPOSED
            orders.append(d)
            twin.order(d.proposed.action.lines[0].quantity)  # as if the PO workflow ran
    assert twin.stock_out_at is None and twin.min_stock > 0
    # one order per shortage episode (not one per hourly report), each priced into a tier
    assert 1 <= len(orders) <= 4
    assert all(d.proposed.action.lines[0].quantity >= twin.item.min_order_qty for d in orders)
    assert all(d.proposed.approval.tier == "manager" for d in orders)  # ~50 kEUR each
