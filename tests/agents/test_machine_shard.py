"""The columnar shard says what each machine agent alone says, reading for reading.

The same readings -- the simulator's bearing-wear and sensor-flatline spindles and generic
condition indicators drifting away from their baseline -- go through ``MachineAgent.assess`` one
agent at a time (the per-asset path) and through an ``AssetActor`` hosting them all as one shard
(``agents.machine_shard``: a round of readings at a time, trend fits in one numpy pass).
Statuses, every indicator's level, sensor faults and findings must be the same; numbers equal to
the report's rounding (trend statistics differ only in the order of float additions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from agents.base import Reading
from agents.machine import MachineAgent, MachineAsset
from agents.machine_shard import assess_round, rounds
from agents.models import HealthReport, Status
from agents.registry import AgentSpec, MachineAgentSpec
from agents.runtime.actor import AssetActor, PublishPolicy
from agents.runtime.checkpoint import FileCheckpointStore
from agents.simulator.machine_twin import FLATLINE_FAULTS, MachineTwin
from agents.trend import fit_trend, fit_trend_many

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)


def pump(asset_id: str) -> MachineAsset:
    """Vendor condition indicators without limits: judged by drift against their baseline."""
    return MachineAsset.model_validate(
        {
            "id": asset_id,
            "sensors": [
                {"name": "ci_bearing", "kind": "condition_indicator", "unit": "g"},
                {"name": "ci_temp", "kind": "condition_indicator", "unit": "degC"},
            ],
        }
    )


def drifting(asset_id: str, seed: int, n: int, onset: int) -> list[Reading]:
    """Healthy noise, then ci_bearing climbing away from its commissioning level."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        wear = 0.0 if i < onset else 0.004 * (i - onset) * (1.0 + 0.01 * (i - onset))
        out.append(
            Reading(
                asset_id,
                T0 + i * STEP,
                {
                    "ci_bearing": float(0.30 + wear + rng.normal(0, 0.02)),
                    "ci_temp": float(48.0 + rng.normal(0, 0.4)),
                },
            )
        )
    return out


def fleet() -> tuple[dict[str, MachineAsset], dict[str, list[Reading]]]:
    assets: dict[str, MachineAsset] = {}
    readings: dict[str, list[Reading]] = {}
    for seed in (1, 2, 3):  # bearing-wear spindles, cut short of failure to keep the test quick
        twin = MachineTwin(seed, asset_id=f"mill-{seed}", onset_h=60.0, life_h=120.0, start=T0)
        assets[twin.asset.id] = twin.asset
        readings[twin.asset.id] = list(islice(twin.readings(), 300))
    twin = MachineTwin(
        9, asset_id="mill-flat", onset_h=math.inf, life_h=math.inf, faults=FLATLINE_FAULTS
    )
    assets[twin.asset.id] = twin.asset
    readings[twin.asset.id] = list(twin.readings(until_h=140.0))
    for seed in (1, 2):
        asset_id = f"pump-{seed}"
        assets[asset_id] = pump(asset_id)
        readings[asset_id] = drifting(asset_id, seed, 400, onset=150 + 40 * seed)
    return assets, readings


def per_asset(assets: dict[str, MachineAsset], readings: dict[str, list[Reading]]) -> dict:
    out = {}
    for asset_id, asset in assets.items():
        agent = MachineAgent(asset)
        out[asset_id] = [agent.assess(r) for r in readings[asset_id]]
    return out


def interleaved(readings: dict[str, list[Reading]]) -> list[Reading]:
    """All assets' readings in time order, as a plant's sources deliver them."""
    every = [r for rs in readings.values() for r in rs]
    return sorted(every, key=lambda r: (r.time, r.asset_id))


def batches(items: list[Reading], size: int) -> Iterable[list[Reading]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def host(tmp_path: Path, assets: dict[str, MachineAsset], publish: PublishPolicy) -> AssetActor:
    specs: list[AgentSpec] = [
        MachineAgentSpec(asset_id=a, config=asset.model_dump(mode="json"))
        for a, asset in assets.items()
    ]
    return AssetActor(
        "shard:0",
        specs,
        FileCheckpointStore(tmp_path, fsync=False),
        publish=publish,
        builder=lambda spec: MachineAgent(assets[spec.asset_id]),
    )


def said(report: HealthReport) -> dict:
    """What a consumer acts on, and the numbers at the report's own rounding."""
    return {
        "status": report.status,
        "seq": report.seq,
        "health_score": pytest.approx(report.health_score, abs=2e-4),
        "indicators": [
            (i.name, i.status, pytest.approx(i.value, rel=1e-6, abs=2e-5) if i.value else i.value)
            for i in report.indicators
        ],
        "faults": [(f.sensor, f.kind, f.since) for f in report.sensor_faults],
        "findings": len(report.findings),
        "baseline_ready": report.baseline_ready,
        "rul": None if report.rul is None else pytest.approx(report.rul.value, rel=1e-3, abs=0.05),
    }


@pytest.fixture(scope="module")
def scenario() -> tuple[dict[str, MachineAsset], dict[str, list[Reading]], dict]:
    assets, readings = fleet()
    return assets, readings, per_asset(assets, readings)


def test_the_scenarios_cover_what_the_equivalence_is_about(scenario) -> None:
    _, _, reference = scenario
    statuses = {r.status for reports in reference.values() for r in reports}
    assert {Status.GREEN, Status.AMBER, Status.RED} <= statuses
    faults = {
        f.kind.value for reports in reference.values() for r in reports for f in r.sensor_faults
    }
    assert "flatline" in faults
    drifts = [i for r in reference["pump-1"] for i in r.indicators if i.name.endswith(".drift")]
    assert drifts, "a pump's indicator departs from its baseline"


@pytest.mark.parametrize("batch", [7, 200])
def test_the_columnar_shard_gives_every_reading_the_per_asset_report(
    scenario, tmp_path: Path, batch: int
) -> None:
    assets, readings, reference = scenario
    shard = host(tmp_path, assets, PublishPolicy(columnar=True))
    got: dict[str, list[HealthReport]] = {a: [] for a in assets}
    for part in batches(interleaved(readings), batch):  # 200: several readings per asset a call
        for report in shard.ingest(part):
            got[report.asset_id].append(report)
    for asset_id, want in reference.items():
        assert len(got[asset_id]) == len(want)
        for g, w in zip(got[asset_id], want, strict=True):
            assert said(g) == said(w), (asset_id, g.seq, g.summary, w.summary)


def test_published_on_change_the_shard_misses_no_change_of_status_level_or_fault(
    scenario, tmp_path: Path
) -> None:
    assets, readings, reference = scenario
    shard = host(tmp_path, assets, PublishPolicy(on_change=True, heartbeat_s=10 * 3600.0))
    got: dict[str, list[HealthReport]] = {a: [] for a in assets}
    for part in batches(interleaved(readings), 50):
        for report in shard.ingest(part):
            got[report.asset_id].append(report)
    for asset_id, want in reference.items():
        published = got[asset_id]
        assert len(published) < len(want) / 2  # the point: most readings change nothing
        by_seq = {w.seq: w for w in want}
        for report in published:  # what is published is what the agent alone said then
            assert said(report) == said(by_seq[report.seq])
        seqs = [r.seq for r in published]
        assert (
            max(b - a for a, b in zip(seqs, seqs[1:], strict=False)) <= 20
        )  # heartbeat: 10 h, 20 readings
        changes = [
            w.seq
            for v, w in zip(want, want[1:], strict=False)
            if (
                v.status,
                [(i.name, i.status) for i in v.indicators],
                {(f.sensor, f.kind) for f in v.sensor_faults},
            )
            != (
                w.status,
                [(i.name, i.status) for i in w.indicators],
                {(f.sensor, f.kind) for f in w.sensor_faults},
            )
        ]
        assert set(changes) <= set(seqs), asset_id
        assert published[-1].status is want[-1].status


def test_a_round_fits_all_trends_as_fit_trend_does_one() -> None:
    rng = np.random.default_rng(4)
    windows, floors, excess = [], [], []
    for k in range(30):
        n = 20 if k % 3 else 33
        t = np.cumsum(rng.uniform(0.4, 0.6, n))
        y = 1.0 + 0.2 * k / 30 * np.exp(0.05 * t) + rng.normal(0, 0.01, n)
        windows.append([(float(a), float(b)) for a, b in zip(t, y, strict=True)])
        floors.append(1.0 if k % 4 else None)
        excess.append(0.02)
    many = fit_trend_many(windows, floors, excess)
    for w, f, e, got in zip(windows, floors, excess, many, strict=True):
        arr = np.asarray(w)
        want = fit_trend(arr[:, 0], arr[:, 1], floor=f, min_excess=e)
        assert got is not None and want is not None
        assert got.model == want.model
        numbers = {k: v for k, v in want.model_dump().items() if k != "model"}
        assert got.model_dump(exclude={"model"}) == pytest.approx(numbers, rel=1e-9, abs=1e-12)


def test_rounds_keep_each_assets_readings_in_order_one_per_round() -> None:
    assert rounds([("a", 0), ("b", 1), ("a", 2), ("a", 3), ("c", 4)]) == [[0, 1, 4], [2], [3]]


def test_an_agent_that_fails_gives_its_exception_and_the_others_their_steps() -> None:
    assets, readings = fleet()
    agents = [MachineAgent(assets["pump-1"]), MachineAgent(assets["pump-2"])]
    bad = Reading("pump-1", T0, {"ci_bearing": 0.3, "ci_temp": 48.0})
    agents[0].monitor = None  # type: ignore[assignment]  # breaks this agent only
    steps = assess_round(agents, [bad, readings["pump-2"][0]])
    assert isinstance(steps[0], Exception)
    assert not isinstance(steps[1], Exception) and steps[1].signature


# ---- decisions: the columnar shard and the incremental engine against the per-asset path -----
def _policies() -> list:
    """The library's policies, plus two inline ones whose answers hang on the engine's
    time-based state: a for-duration with a cool-down after the workflow closes, and a
    fire/clear hysteresis that keeps firing for a while after the condition went."""
    from policies.loader import load_all
    from tests.policies.helpers import make_policy, work_order

    def watch(reports, ctx, p):  # amber/red held for 2 h proposes a look
        r = reports[-1]
        return [work_order(r.asset_id, f"watch:{r.asset_id}")] if r.status in (
            Status.AMBER,
            Status.RED,
        ) else []

    def red(reports, ctx, p):  # red fires; holds until green (hysteresis on the status)
        r = reports[-1]
        key = f"red:{r.asset_id}"
        level = {Status.GREEN: 0.0, Status.AMBER: 1.0, Status.RED: 2.0}.get(r.status)
        return [work_order(r.asset_id, key)] if ctx.exceeds(key, level, 1.5, 0.5) else []

    return [
        *(f.loaded for f in load_all()),
        make_policy(watch, pid="watch", for_duration=timedelta(hours=2), cooldown=timedelta(hours=12)),
        make_policy(red, pid="red", cooldown=timedelta(hours=1), clear_after=timedelta(hours=1)),
    ]


def _decide(engine, ticks: list[tuple[datetime, list[HealthReport]]], hold: timedelta) -> list:
    """Run ``engine`` tick by tick. What it proposes opens a workflow that stays open ``hold``
    and then closes (so cool-downs and "proposed again once closed" are exercised)."""
    from policies.base import PolicyContext
    from policies.models import DecisionOutcome

    open_until: dict[str, datetime] = {}
    out = []
    for now, reports in ticks:
        open_keys = frozenset(k for k, until in open_until.items() if now < until)
        ctx = PolicyContext(now=now, site="plant-a", open_keys=open_keys)
        for d in engine.process(reports, ctx):
            out.append((d.decision_id, d.policy_id, d.asset_id, d.outcome, d.time, d.explanation))
            if d.outcome is DecisionOutcome.PROPOSED and d.proposed is not None:
                open_until[d.proposed.dedup_key] = now + hold
    return out


def _ticks(reports: dict[str, list[HealthReport]]) -> list[tuple[datetime, list[HealthReport]]]:
    by_time: dict[datetime, list[HealthReport]] = {}
    for rs in reports.values():
        for r in rs:
            by_time.setdefault(r.time, []).append(r)
    return sorted(by_time.items())


def test_the_shard_and_the_incremental_engine_decide_what_the_per_asset_path_decides(
    scenario, tmp_path: Path
) -> None:
    from policies.engine import PolicyEngine

    assets, readings, reference = scenario
    hold = timedelta(hours=4)
    want = _decide(PolicyEngine(_policies(), incremental=False), _ticks(reference), hold)

    # Columnar, a report per reading, the engine evaluating only what may answer differently.
    shard = host(tmp_path / "every", assets, PublishPolicy(columnar=True))
    got: dict[str, list[HealthReport]] = {a: [] for a in assets}
    for part in batches(interleaved(readings), 50):
        for report in shard.ingest(part):
            got[report.asset_id].append(report)
    # Decision ids hash policy, asset, key, outcome and time; explanations quote numbers the two
    # paths round alike only to the report's precision, so they are not compared here.
    assert [d[:5] for d in _decide(PolicyEngine(_policies()), _ticks(got), hold)] == [
        d[:5] for d in want
    ]

    # What the decisions are about: statuses, time-based state, workflows closing.
    outcomes = {(d[1], d[3].value) for d in want}
    assert {("watch", "proposed"), ("red", "proposed"), ("bearing-wear", "proposed")} <= outcomes
    watched: dict[str, list[datetime]] = {}
    for d in want:
        if d[1] == "watch" and d[3].value == "proposed":
            watched.setdefault(d[2], []).append(d[4])
    # Proposed again once its workflow closed (4 h) and the 12-h cool-down after firing is over.
    again = [b - a for times in watched.values() for a, b in zip(times, times[1:], strict=False)]
    assert again and min(again) >= timedelta(hours=12)
    assert sum(1 for d in want if d[1] == "red" and d[3].value == "proposed") >= 2


def test_on_sparse_reports_the_incremental_engine_decides_what_the_full_one_does(
    scenario, tmp_path: Path
) -> None:
    """Published on change (a heartbeat every 10 h), most ticks bring no report of an asset: the
    time-based state (for-durations, cool-downs, clear-after, stale data) must still move."""
    from policies.engine import PolicyEngine

    assets, readings, _ = scenario
    shard = host(tmp_path, assets, PublishPolicy(on_change=True, heartbeat_s=10 * 3600.0))
    ticks: list[tuple[datetime, list[HealthReport]]] = []
    for t, part in sorted(_by_time(interleaved(readings)).items()):
        ticks.append((t, shard.ingest(part)))
    full = _decide(PolicyEngine(_policies(), incremental=False), ticks, timedelta(hours=4))
    incremental = PolicyEngine(_policies())
    assert _decide(incremental, ticks, timedelta(hours=4)) == full
    assert len(full) > 10 and incremental.stats.skipped > 0


def _by_time(readings: list[Reading]) -> dict[datetime, list[Reading]]:
    out: dict[datetime, list[Reading]] = {}
    for r in readings:
        out.setdefault(r.time, []).append(r)
    return out
