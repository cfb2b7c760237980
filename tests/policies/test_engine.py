"""The engine's semantics, each shown on a tiny inline policy fed through the real engine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from agents.models import AssetKind, HealthReport, Status
from policies.base import PolicyContext, Suppression
from policies.engine import Budget, EngineConfig, PolicyEngine
from policies.models import Autonomy, DecisionOutcome, ProposedAction
from tests.policies.helpers import at, ctx_at, make_policy, order, threshold_policy, vib, work_order


def run(
    engine: PolicyEngine, steps: Sequence[tuple[float, float]], asset: str = "m-1", **ctx_kw: Any
) -> list[tuple[float, str]]:
    """Feed (minute, velocity) reports; return (minute, outcome) of every decision."""
    out = []
    for i, (minute, value) in enumerate(steps):
        for d in engine.process([vib(asset, minute, value, seq=i)], ctx_at(minute, **ctx_kw)):
            out.append((minute, d.outcome.value))
    return out


def test_condition_must_hold_for_the_whole_duration_before_firing() -> None:
    engine = PolicyEngine([threshold_policy(for_duration=timedelta(minutes=10))])
    # above at 0 and 5: pending; below at 7 restarts the clock; above from 9 on fires at 19
    steps = [(0, 8.0), (5, 8.0), (7, 3.0), (9, 8.0), (14, 8.0), (18, 8.0), (19, 8.0), (25, 8.0)]
    assert run(engine, steps) == [(19, "proposed")]


def test_hysteresis_holds_between_clear_and_fire_thresholds() -> None:
    engine = PolicyEngine([threshold_policy(fire=7.0, clear=5.0)])
    # fires at 8; 6 is under the fire level but above the clear level: still the same problem;
    # 4 clears it; 6 afterwards is not enough to fire again; 8 is a new problem.
    steps = [(0, 8.0), (1, 6.0), (2, 6.5), (3, 4.0), (4, 6.0), (5, 8.0)]
    assert run(engine, steps) == [(0, "proposed"), (5, "proposed")]


def test_without_hysteresis_the_same_wobble_flaps() -> None:
    engine = PolicyEngine([threshold_policy(fire=7.0, clear=7.0)])
    steps = [(0, 8.0), (1, 6.0), (2, 8.0), (3, 6.9), (4, 7.5)]
    assert [m for m, _ in run(engine, steps)] == [0, 2, 4]


def test_one_ongoing_problem_gives_one_decision_not_one_per_report() -> None:
    engine = PolicyEngine([threshold_policy()])
    decisions = run(engine, [(m, 9.0) for m in range(50)])
    assert decisions == [(0, "proposed")]
    assert engine.stats.duplicates_dropped == 49


def test_cooldown_holds_back_a_new_episode_and_says_until_when() -> None:
    engine = PolicyEngine([threshold_policy(cooldown=timedelta(minutes=60))])
    out = []
    for i, (minute, value) in enumerate(
        [(0, 8.0), (10, 3.0), (20, 8.0), (30, 8.0), (70, 8.0), (80, 8.0)]
    ):
        out += [
            (minute, d) for d in engine.process([vib("m-1", minute, value, seq=i)], ctx_at(minute))
        ]
    assert [(m, d.outcome.value) for m, d in out] == [
        (0, "proposed"),
        (20, "suppressed"),
        (70, "proposed"),
    ]
    assert (
        "cool-down until" in out[1][1].explanation and at(60).isoformat() in out[1][1].explanation
    )


def test_a_problem_whose_action_ended_is_proposed_again_after_the_cool_down() -> None:
    """A rejected order's shortage that persists comes back to people: once its workflow is no
    longer open and the cool-down is over, the still-firing key is proposed again."""
    engine = PolicyEngine([threshold_policy(cooldown=timedelta(minutes=60))])
    key = {"wo:m-1"}
    plays = [  # minute, workflow open for the key?
        (0, False),  # fires; the loop starts its workflow
        (5, True), (30, True),  # open: nothing more
        (40, False), (59, False),  # rejected at 40: still in the cool-down
        (61, False),  # cool-down over, problem still there: proposed again
        (65, True), (200, True),  # the new workflow runs: one proposal only
    ]
    out = []
    for i, (minute, is_open) in enumerate(plays):
        ctx = ctx_at(minute, open_keys=frozenset(key if is_open else ()))
        out += [(minute, d.outcome.value) for d in engine.process([vib("m-1", minute, 9.0, seq=i)], ctx)]
    assert out == [(0, "proposed"), (61, "proposed")]


def test_after_its_workflow_ended_a_problem_is_judged_at_the_fire_threshold_not_the_clear_band() -> None:
    """An order received leaves the stock inside the hysteresis band (above the fire level, not
    yet past the clear level): that is no shortage, so no second order. Only when the value
    crosses the fire threshold again is the problem proposed anew."""
    engine = PolicyEngine([threshold_policy(fire=7.0, clear=5.0, cooldown=timedelta(minutes=60))])
    key = {"wo:m-1"}
    plays = [  # minute, velocity, workflow open for the key?
        (0, 9.0, False),  # fires; the loop starts its workflow
        (5, 9.0, True), (30, 6.0, True),  # open; the value drops into the band (5 < v < 7)
        (40, 6.0, False),  # the workflow ended
        (61, 6.0, False), (120, 6.5, False),  # cool-down over, still in the band: nothing
        (130, 7.5, False),  # above the fire threshold again: a new problem, proposed
    ]
    out = []
    for i, (minute, value, is_open) in enumerate(plays):
        ctx = ctx_at(minute, open_keys=frozenset(key if is_open else ()))
        out += [(minute, d.outcome.value) for d in engine.process([vib("m-1", minute, value, seq=i)], ctx)]
    assert out == [(0, "proposed"), (130, "proposed")]


def test_without_a_workflow_ever_open_a_persisting_problem_is_proposed_once() -> None:
    # A backtest (no workflows at all) or a flag that starts none: one proposal per episode.
    engine = PolicyEngine([threshold_policy(cooldown=timedelta(minutes=60))])
    assert run(engine, [(m, 9.0) for m in range(0, 300, 10)]) == [(0, "proposed")]


def test_suppression_window_silences_the_asset_then_lets_it_fire() -> None:
    maintenance = Suppression(
        start=at(0), end=at(60), asset_id="m-1", reason="asset under maintenance (WO-17)"
    )
    engine = PolicyEngine([threshold_policy()])
    out = []
    for i, minute in enumerate([0, 30, 59, 60, 61]):
        for asset in ("m-1", "m-2"):
            out += [
                (minute, asset, d)
                for d in engine.process(
                    [vib(asset, minute, 9.0, seq=i)], ctx_at(minute, suppressions=(maintenance,))
                )
            ]
    summary = [(m, a, d.outcome.value) for m, a, d in out]
    # the other machine is not silenced; m-1 gets one "suppressed" record, then fires at the end
    assert summary == [(0, "m-1", "suppressed"), (0, "m-2", "proposed"), (60, "m-1", "proposed")]
    assert "WO-17" in out[0][2].explanation


def test_site_wide_planned_shutdown_silences_every_asset() -> None:
    shutdown = Suppression(start=at(0), end=at(600), reason="planned shutdown")
    engine = PolicyEngine([threshold_policy()])
    decisions = engine.process(
        [vib("m-1", 0, 9.0), vib("m-2", 0, 9.0)], ctx_at(0, suppressions=(shutdown,))
    )
    assert {d.outcome for d in decisions} == {DecisionOutcome.SUPPRESSED}
    assert len(decisions) == 2


def test_open_workflow_for_the_key_suppresses_a_second_action() -> None:
    engine = PolicyEngine([threshold_policy()])
    [d] = engine.process([vib("m-1", 0, 9.0)], ctx_at(0, open_keys=frozenset({"wo:m-1"})))
    assert d.outcome is DecisionOutcome.SUPPRESSED and "already open" in d.explanation


def test_stale_data_is_an_explicit_decision_once_per_episode() -> None:
    engine = PolicyEngine(
        [threshold_policy(stale_after=timedelta(minutes=30), for_duration=timedelta(minutes=10))]
    )
    assert engine.process([vib("m-1", 0, 9.0)], ctx_at(0)) == []  # pending
    stale = engine.step(ctx_at(45))
    assert [d.outcome for d in stale] == [DecisionOutcome.STALE_DATA]
    assert "0.75 h old" in stale[0].explanation and stale[0].asset_id == "m-1"
    assert engine.step(ctx_at(50)) == []  # still stale: already said so
    # data is back: the for-duration starts again (continuity was broken), fires 10 min later
    assert engine.process([vib("m-1", 55, 9.0, seq=1)], ctx_at(55)) == []
    fired = engine.process([vib("m-1", 65, 9.0, seq=2)], ctx_at(65))
    assert [d.outcome for d in fired] == [DecisionOutcome.PROPOSED]


def test_missing_asset_and_unknown_status_are_stale_not_silent() -> None:
    engine = PolicyEngine([threshold_policy()])
    unknown = vib("m-1", 0, 9.0, status=Status.UNKNOWN)
    decisions = engine.process([unknown], ctx_at(0, expected_assets={"m-9": AssetKind.MACHINE}))
    by_asset = {d.asset_id: d for d in decisions}
    assert by_asset["m-9"].outcome is DecisionOutcome.STALE_DATA
    assert "no report from expected asset m-9" in by_asset["m-9"].explanation
    assert by_asset["m-1"].outcome is DecisionOutcome.STALE_DATA
    assert "status unknown" in by_asset["m-1"].explanation


def test_budget_exhausted_turns_auto_into_approval_with_the_reason() -> None:
    def evaluate(
        reports: Sequence[HealthReport], ctx: PolicyContext, p: Any
    ) -> list[ProposedAction]:
        r = reports[-1]
        return [order(r.asset_id, f"sku-{r.asset_id}", 400.0)]

    config = EngineConfig(budget=Budget(max_auto_actions_per_day=10, max_auto_spend_per_day=1000.0))
    engine = PolicyEngine([make_policy(evaluate)], config)
    day1 = engine.process([vib(a, 0, 1.0) for a in ("a", "b", "c")], ctx_at(0))
    assert [d.proposed.autonomy for d in day1] == [Autonomy.AUTO, Autonomy.AUTO, Autonomy.APPROVE]
    gated = day1[2].proposed
    assert gated.approval is not None and gated.approval.roles == ("plant_manager",)
    assert "800.00 + 400.00 EUR would exceed 1000.00" in gated.approval.reason
    assert "Needs approval" in day1[2].explanation
    # the next day the budget is fresh
    day2 = engine.process([vib("d", 24 * 60, 1.0)], ctx_at(24 * 60))
    assert [d.proposed.autonomy for d in day2 if d.asset_id == "d"] == [Autonomy.AUTO]
    # and the silent machines a, b, c are reported as stale, not forgotten
    assert {d.asset_id for d in day2 if d.outcome is DecisionOutcome.STALE_DATA} == {"a", "b", "c"}


def test_rate_limit_on_automatic_actions_per_day() -> None:
    def evaluate(
        reports: Sequence[HealthReport], ctx: PolicyContext, p: Any
    ) -> list[ProposedAction]:
        return [work_order(reports[-1].asset_id, f"wo:{reports[-1].asset_id}")]

    engine = PolicyEngine(
        [make_policy(evaluate)], EngineConfig(budget=Budget(max_auto_actions_per_day=2))
    )
    decisions = engine.process([vib(a, 0, 1.0) for a in ("a", "b", "c", "d")], ctx_at(0))
    assert [d.proposed.autonomy.value for d in decisions] == ["auto", "auto", "approve", "approve"]
    assert "daily limit of 2 automatic actions" in decisions[2].proposed.approval.reason


def test_precedence_inside_a_conflict_group_and_independence_across_groups() -> None:
    urgent = threshold_policy(
        fire=7.0, clear=7.0, pid="urgent", precedence=10, conflict_group="maintenance"
    )
    planned = threshold_policy(
        fire=5.0, clear=5.0, pid="planned", precedence=20, conflict_group="maintenance"
    )
    energy = threshold_policy(
        fire=5.0, clear=5.0, pid="energy", precedence=99, conflict_group="energy"
    )
    engine = PolicyEngine([planned, energy, urgent])
    first = engine.process([vib("m-1", 0, 9.0)], ctx_at(0))
    assert {(d.policy_id, d.outcome.value) for d in first} == {
        ("urgent", "proposed"),
        ("planned", "suppressed"),
        ("energy", "proposed"),
    }
    loser = next(d for d in first if d.policy_id == "planned")
    assert "outranked by policy 'urgent'" in loser.explanation
    # while the urgent problem is ongoing, the planned one stays held back (and is not repeated)
    assert engine.process([vib("m-1", 1, 9.0, seq=1)], ctx_at(1)) == []
    # urgent clears (6 < 7) while planned still holds (6 >= 5): now planned may act
    later = engine.process([vib("m-1", 2, 6.0, seq=2)], ctx_at(2))
    assert [(d.policy_id, d.outcome.value) for d in later] == [("planned", "proposed")]


def test_a_raising_policy_is_isolated_and_reported_once() -> None:
    def broken(reports: Sequence[HealthReport], ctx: PolicyContext, p: Any) -> list[ProposedAction]:
        return [work_order("x", "k")] if 1 / 0 else []

    engine = PolicyEngine([make_policy(broken, pid="broken"), threshold_policy(pid="healthy")])
    decisions = engine.process([vib("m-1", 0, 9.0)], ctx_at(0))
    by_policy = {d.policy_id: d for d in decisions}
    assert by_policy["broken"].outcome is DecisionOutcome.ERROR
    assert "ZeroDivisionError" in by_policy["broken"].explanation
    assert by_policy["healthy"].outcome is DecisionOutcome.PROPOSED
    assert engine.process([vib("m-1", 1, 9.0, seq=1)], ctx_at(1)) == []  # same error: not repeated


def test_a_policy_returning_garbage_is_an_error_decision() -> None:
    engine = PolicyEngine([make_policy(lambda r, c, p: "create a work order", pid="sloppy")])
    [d] = engine.process([vib("m-1", 0, 9.0)], ctx_at(0))
    assert d.outcome is DecisionOutcome.ERROR and "list of ProposedAction" in d.explanation


def test_same_inputs_give_the_same_decisions() -> None:
    def feed() -> list[Any]:
        engine = PolicyEngine(
            [
                threshold_policy(cooldown=timedelta(minutes=30)),
                threshold_policy(pid="other", fire=8.5, clear=8.0),
            ]
        )
        out = []
        for i, (m, v) in enumerate([(0, 9.0), (5, 3.0), (10, 9.0), (50, 9.0), (55, 2.0)]):
            out += engine.process(
                [vib("m-1", m, v, seq=i), vib("m-2", m, 10 - v, seq=i)], ctx_at(m)
            )
        return [d.model_dump() for d in out]

    first, second = feed(), feed()
    assert first == second and len(first) >= 4
    assert len({d["decision_id"] for d in first}) == len(first)


def test_for_duration_parameter_overridden_per_asset_from_the_plant_configuration() -> None:
    class Params(BaseModel):
        for_duration_min: float = 30.0

    def evaluate(
        reports: Sequence[HealthReport], ctx: PolicyContext, p: Any
    ) -> list[ProposedAction]:
        return [work_order(reports[-1].asset_id, f"wo:{reports[-1].asset_id}")]

    config = EngineConfig(parameters={"p": {"asset:fast": {"for_duration_min": 0}}})
    engine = PolicyEngine([make_policy(evaluate, pid="p", params=Params)], config)
    decisions = engine.process([vib("fast", 0, 1.0), vib("slow", 0, 1.0)], ctx_at(0))
    assert [(d.asset_id, d.parameters) for d in decisions] == [("fast", {"for_duration_min": 0.0})]


def test_old_or_redelivered_reports_do_not_replace_the_newest() -> None:
    engine = PolicyEngine([threshold_policy()])
    engine.observe([vib("m-1", 10, 2.0, seq=5)])
    engine.observe([vib("m-1", 5, 9.0, seq=4), vib("m-1", 10, 2.0, seq=5)])
    assert engine.step(ctx_at(10)) == []


def test_autonomy_ceiling_from_the_plant_configuration() -> None:
    config = EngineConfig(autonomy={"test-policy": Autonomy.SUGGEST})
    [d] = PolicyEngine([threshold_policy()], config).process([vib("m-1", 0, 9.0)], ctx_at(0))
    assert d.proposed.autonomy is Autonomy.SUGGEST
    assert "capped at suggest by the plant configuration" in d.explanation
    config = EngineConfig(autonomy={"test-policy": Autonomy.APPROVE})
    [d] = PolicyEngine([threshold_policy()], config).process([vib("m-1", 0, 9.0)], ctx_at(0))
    assert d.proposed.autonomy is Autonomy.APPROVE and d.proposed.approval is not None


def test_a_restored_engine_continues_exactly_like_one_that_never_stopped() -> None:
    def policies() -> list[Any]:
        return [threshold_policy(cooldown=timedelta(minutes=30), for_duration=timedelta(minutes=5))]

    steps = [(0, 9.0), (5, 9.0), (10, 3.0), (15, 9.0), (25, 9.0), (50, 9.0), (60, 9.0)]
    whole = PolicyEngine(policies())
    expected = run(whole, steps)
    first = PolicyEngine(policies())
    got = run(first, steps[:3])
    snapshot = json.loads(json.dumps(first.snapshot()))  # it must survive a trip through JSON
    second = PolicyEngine(policies())
    second.restore(snapshot)
    got += run(second, steps[3:])
    assert expected == [(5, "proposed"), (25, "suppressed"), (50, "proposed")]
    assert got == expected


def test_a_quiet_step_looks_only_at_what_changed_and_still_sees_data_go_stale() -> None:
    """The incremental walk (issue 16): a step with no new report evaluates no pair, one new
    report evaluates its asset's pairs only, a quiet report going stale is still said once, and
    a machine entry replaced by another object (equal or not) is looked at again -- each step
    deciding exactly what a full walk of every pair decides."""
    from policies.base import MachineInfo
    from policies.testing import T0

    def high(reports, ctx, p):  # proposes above 8 mm/s; a bottleneck machine proposes at 6
        r = reports[-1]
        level = r.indicator("velocity_rms").value  # type: ignore[union-attr]
        m = ctx.machines.get(r.asset_id)
        at = 6.0 if m is not None and m.bottleneck else 8.0
        return [work_order(r.asset_id, f"high:{r.asset_id}")] if level > at else []

    def engines() -> tuple[PolicyEngine, PolicyEngine]:
        mk = lambda: make_policy(high, pid="high", stale_after=timedelta(minutes=30))  # noqa: E731
        return PolicyEngine([mk()]), PolicyEngine([mk()], incremental=False)

    assets = [f"m{i:03d}" for i in range(200)]
    machines = {a: MachineInfo(asset_id=a) for a in assets}
    inc, full = engines()
    said: list[list[tuple]] = [[], []]

    def both(minute: float, reports: list, machines: dict) -> int:
        before = inc.stats.evaluations
        for i, engine in enumerate((inc, full)):
            ctx = PolicyContext(now=T0 + timedelta(minutes=minute), machines=dict(machines))
            said[i].append(
                [(d.policy_id, d.asset_id, d.outcome, d.time) for d in engine.process(reports, ctx)]
            )
        assert said[0][-1] == said[1][-1]
        return inc.stats.evaluations - before

    # Every asset reports once; then nothing new for 20 minutes: nothing is evaluated again.
    assert both(0, [vib(a, 0, 2.0, Status.GREEN) for a in assets], machines) == len(assets)
    assert both(10, [], machines) == 0
    # One asset's new report: that pair alone.
    assert both(20, [vib("m007", 20, 9.0, seq=1)], machines) == 1
    assert said[0][-1] and said[0][-1][0][1] == "m007"
    # A machine entry becomes a bottleneck: a changed context walks everything (m013 fires).
    machines["m013"] = MachineInfo(asset_id="m013", bottleneck=True)
    assert both(21, [vib("m013", 21, 7.0, seq=1)], machines) >= len(assets) - 1
    assert [d[1] for d in said[0][-1]] == ["m013"]
    # An equal entry that is another object: that asset is looked at again, and the two whose
    # problems stand (a fired pair is looked at every step); no other.
    machines["m042"] = MachineInfo(asset_id="m042")
    assert both(22, [], machines) == 3
    # 31 minutes after their last report the quiet assets go stale: each said once, then quiet.
    both(31, [], machines)
    assert {d[1] for d in said[0][-1]} == set(assets) - {"m007", "m013"}
    assert all(d[2].value == "stale_data" for d in said[0][-1])
    assert both(40, [], machines) < len(assets)  # stale pairs are looked at, nothing said
    assert said[0][-1] == []
    assert [len(s) for s in said[0]] == [len(s) for s in said[1]]
