"""The agent runtime: the host logic in-process first, then the same promises on a real Ray instance."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.base import Agent, Reading
from agents.errors import AgentRuntimeError, ConfigError, InputError
from agents.models import HealthReport
from agents.registry import (
    AgentSpec,
    EnergyAgentSpec,
    InventoryAgentSpec,
    MachineAgentSpec,
    build_agent,
)
from agents.runtime.actor import AssetActor, CheckpointPolicy
from agents.runtime.checkpoint import FileCheckpointStore

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def sku(asset_id: str, lead_time_h: float = 48.0) -> AgentSpec:
    return InventoryAgentSpec(
        asset_id=asset_id, config={"sku": asset_id.upper(), "lead_time_h": lead_time_h}
    )


def counts(asset_id: str, hours: range, start: float = 2000.0) -> list[Reading]:
    """Hourly stock counts: ~12 units/h consumed, with a repeating wobble so the variance is real."""
    return [
        Reading(asset_id, T0 + timedelta(hours=h), {"stock": start - 12.0 * h - (h % 3) * 2.0})
        for h in hours
    ]


def mill(asset_id: str) -> AgentSpec:
    sensors = [
        {"name": "vib", "kind": "vibration_velocity", "unit": "mm/s"},
        {"name": "temp", "kind": "temperature", "unit": "degC"},
    ]
    return MachineAgentSpec(
        asset_id=asset_id, config={"sensors": sensors, "commissioning_readings": 12}
    )


def vibration(asset_id: str, hours: range) -> list[Reading]:
    """A healthy mill: velocity and bearing temperature wobbling around their normal values."""
    return [
        Reading(
            asset_id,
            T0 + timedelta(hours=h),
            {"vib": 1.2 + 0.05 * (h % 4), "temp": 41.0 + 0.3 * (h % 3)},
        )
        for h in hours
    ]


def reference(spec: AgentSpec, readings: list[Reading]) -> list[HealthReport]:
    """What one agent that is never interrupted says about these readings."""
    agent = build_agent(spec)
    return [agent.assess(r) for r in readings]


def _close(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12)
    if isinstance(value, dict):
        return {k: _close(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_close(v) for v in value]
    return value


def same_reports(got: list[HealthReport], want: list[HealthReport]) -> bool:
    """Equal reports, floats to 1e-9: numpy's SIMD sums may differ in the last bit between
    processes (array alignment), and the reference runs in the driver, the agent in a worker."""
    return [r.model_dump(mode="json") for r in got] == _close(
        [r.model_dump(mode="json") for r in want]
    )


def rate(report: HealthReport) -> float | None:
    indicator = report.indicator("consumption_rate")
    assert indicator is not None
    return indicator.value


# -- the host, in-process ---------------------------------------------------------------------


def test_host_publishes_reports_with_ids_and_pages_them_by_cursor(tmp_path: Path) -> None:
    host = AssetActor("shard:0", [sku("sku-a"), sku("sku-b")], FileCheckpointStore(tmp_path))
    batch = counts("sku-a", range(6)) + counts("sku-b", range(4))
    reports = host.ingest(batch)

    assert [r.report_id for r in reports][:3] == ["sku-a:0", "sku-a:1", "sku-a:2"]
    assert len({r.report_id for r in reports}) == 10
    assert reports[5].baseline_ready and rate(reports[5]) == pytest.approx(12.0, rel=0.2)
    assert host.latest()["sku-b"].report_id == "sku-b:3"

    first = host.reports_since(0, limit=4)
    rest = host.reports_since(first.cursor)
    assert [r.report_id for r in first.reports + rest.reports] == [r.report_id for r in reports]
    assert rest.cursor == 10 and host.reports_since(rest.cursor).reports == ()


def test_a_full_outbox_tells_a_slow_consumer_how_many_it_missed(tmp_path: Path) -> None:
    host = AssetActor("asset:sku-a", [sku("sku-a")], FileCheckpointStore(tmp_path), outbox_size=5)
    host.ingest(counts("sku-a", range(8)))
    page = host.reports_since(0)
    assert page.missed == 3
    assert [r.seq for r in page.reports] == [3, 4, 5, 6, 7]
    assert page.cursor == 8


def test_redelivered_readings_are_not_assessed_twice(tmp_path: Path) -> None:
    spec = sku("sku-a")
    host = AssetActor("asset:sku-a", [spec], FileCheckpointStore(tmp_path))
    first = host.ingest(counts("sku-a", range(10)))
    # A retry of the tail plus new readings: the tail comes back as the same reports.
    second = host.ingest(counts("sku-a", range(5, 13)))

    assert [r.report_id for r in second] == [f"sku-a:{n}" for n in range(5, 13)]
    assert second[:5] == first[5:]
    assert second == reference(spec, counts("sku-a", range(13)))[5:]
    stats = host.stats()
    assert (stats.assessed, stats.duplicates) == (13, 5)
    assert len(host.reports_since(0).reports) == 13  # published once each


def test_restarted_host_resumes_with_baseline_and_sequence(tmp_path: Path) -> None:
    spec = sku("sku-a")
    store = FileCheckpointStore(tmp_path)
    before = AssetActor("asset:sku-a", [spec], store)
    before.ingest(counts("sku-a", range(24)))
    cursor = before.reports_since(0).cursor
    last = before.latest()["sku-a"]

    # What Ray does after a crash: the same constructor, the same arguments, a new process.
    after = AssetActor("asset:sku-a", [spec], store)
    assert after.latest()["sku-a"] == last
    stats = after.stats()
    assert (stats.incarnation, stats.restored, stats.cursor) == (2, ("sku-a",), cursor)

    resumed = after.ingest(counts("sku-a", range(24, 30)))
    assert resumed[0].report_id == "sku-a:24" and resumed[0].baseline_ready
    # Indistinguishable from an agent that was never interrupted.
    assert resumed == reference(spec, counts("sku-a", range(30)))[24:]
    assert [r.seq for r in after.reports_since(cursor).reports] == list(range(24, 30))


def test_reply_lost_with_the_crash_is_given_again_after_restart(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    batch = counts("sku-a", range(20, 26))
    before = AssetActor("asset:sku-a", [sku("sku-a")], store)
    before.ingest(counts("sku-a", range(20)))
    sent = before.ingest(batch)  # saved, then the actor dies before the caller gets the reply

    after = AssetActor("asset:sku-a", [sku("sku-a")], store)
    assert after.ingest(batch) == sent  # Ray's task retry sees the same reports, same ids
    assert after.stats().assessed == 0


def test_readings_after_the_last_checkpoint_are_reassessed_with_the_same_ids(
    tmp_path: Path,
) -> None:
    spec = sku("sku-a")
    store = FileCheckpointStore(tmp_path)
    policy = CheckpointPolicy(every_readings=4)
    before = AssetActor("asset:sku-a", [spec], store, policy=policy)
    published = [r for reading in counts("sku-a", range(6)) for r in before.ingest([reading])]
    assert json.loads(store.path_for("agent:sku-a").read_text())["snapshot"]["seq"] == 4

    after = AssetActor("asset:sku-a", [spec], store, policy=policy)
    redone = after.ingest(counts("sku-a", range(6)))
    assert redone == published[4:]  # 0-3 skipped, 4-5 assessed again to the same reports
    assert after.stats().cursor >= before.stats().cursor  # consumers' cursors stay valid


def test_time_based_checkpoints_use_the_injected_clock(tmp_path: Path) -> None:
    now = [0.0]
    store = FileCheckpointStore(tmp_path)
    policy = CheckpointPolicy(every_readings=1000, every_seconds=60)
    host = AssetActor("asset:sku-a", [sku("sku-a")], store, policy=policy, clock=lambda: now[0])
    host.ingest(counts("sku-a", range(3)))
    assert store.load("agent:sku-a") is None
    now[0] = 61.0
    host.ingest(counts("sku-a", range(3, 5)))
    saved = store.load("agent:sku-a")
    assert saved is not None and saved["last_time"] == (T0 + timedelta(hours=4)).isoformat()
    assert host.checkpoint() == 0  # nothing changed since


def test_unreadable_checkpoint_starts_that_agent_afresh_and_says_why(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    AssetActor("shard:0", [sku("sku-a"), sku("sku-b")], store).ingest(
        counts("sku-a", range(5)) + counts("sku-b", range(5))
    )
    store.path_for("agent:sku-a").write_text("{truncated", encoding="utf-8")

    host = AssetActor("shard:0", [sku("sku-a"), sku("sku-b")], store)
    stats = host.stats()
    assert stats.restored == ("sku-b",)
    assert "sku-a" in stats.restore_errors[0] and "not valid JSON" in stats.restore_errors[0]
    a, b = host.ingest(counts("sku-a", range(5, 6)) + counts("sku-b", range(5, 6)))
    assert (a.seq, a.baseline_ready) == (0, False)  # relearning, not red, not crashed
    assert (b.seq, b.baseline_ready) == (5, True)


def test_readings_for_assets_it_does_not_host_are_refused_whole(tmp_path: Path) -> None:
    host = AssetActor("asset:sku-a", [sku("sku-a")], FileCheckpointStore(tmp_path))
    with pytest.raises(InputError, match=r"hosts \['sku-a'\], not \['sku-z'\].*AgentFleet"):
        host.ingest(counts("sku-a", range(2)) + counts("sku-z", range(1)))
    assert host.stats().assessed == 0


class _BuggyAgent:
    """An agent with a bug on one kind of input, to show one bad reading does not stop a shard."""

    def __init__(self, inner: Agent) -> None:
        self._inner = inner

    @property
    def asset_id(self) -> str:
        return self._inner.asset_id

    def assess(self, reading: Reading) -> HealthReport:
        if "crash_me" in reading.values:
            raise ZeroDivisionError("bug in agent")
        return self._inner.assess(reading)

    def snapshot(self) -> dict[str, Any]:
        return self._inner.snapshot()

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self._inner.restore(snapshot)


def buggy_builder(spec: AgentSpec) -> Agent:
    return _BuggyAgent(build_agent(spec))


def test_an_agent_that_raises_on_one_reading_keeps_the_batch_going(tmp_path: Path) -> None:
    host = AssetActor(
        "asset:sku-a", [sku("sku-a")], FileCheckpointStore(tmp_path), builder=buggy_builder
    )
    bad = Reading("sku-a", T0 + timedelta(hours=2), {"stock": 1970.0, "crash_me": 1.0})
    readings = counts("sku-a", range(2)) + [bad] + counts("sku-a", range(3, 5))
    reports = host.ingest(readings)
    assert [r.seq for r in reports] == [0, 1, 2, 3]
    assert (host.stats().errors, host.stats().assessed) == (1, 4)
    assert host.ingest([bad]) == []  # consumed: a re-delivery does not hit the bug again


# -- on a real Ray instance ---------------------------------------------------------------------


@pytest.fixture
def fleet_args(ray_session: None, tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield {"namespace": f"test-{uuid.uuid4().hex[:8]}", "checkpoint_dir": tmp_path / "state"}


def wait_restarted(fleet: Any, actor: str, incarnation: int, timeout_s: float = 120.0) -> None:
    """``ray.kill`` returns before the actor is gone: wait (bounded) until the new incarnation
    answers, so what follows talks to it and not to the old one still finishing a call."""
    deadline = time.monotonic() + timeout_s
    while fleet.stats()[actor].incarnation < incarnation:
        if time.monotonic() > deadline:
            raise AssertionError(f"{actor} not restarted as incarnation {incarnation} in {timeout_s} s")
        time.sleep(0.2)


@pytest.mark.integration
def test_killed_actor_comes_back_with_its_baseline_and_keeps_reporting(
    fleet_args: dict[str, Any],
) -> None:
    from agents.runtime.adapter import AgentFleet

    specs = [mill("mill-1"), sku("sku-b")]
    fleet = AgentFleet.start(specs, **fleet_args)
    try:
        first = fleet.ingest(vibration("mill-1", range(16)) + counts("sku-b", range(16)))
        assert len(first) == 32 and len({r.report_id for r in first}) == 32
        page = fleet.reports_since()
        assert sorted(r.report_id for r in page.reports) == sorted(r.report_id for r in first)
        assert page.cursor == {"asset:mill-1": 16, "asset:sku-b": 16}
        before = fleet.latest()["mill-1"]
        assert before.baseline_ready  # commissioned: 12 readings learnt

        assert fleet.kill("mill-1", restart=True) == "asset:mill-1"  # ray.kill(no_restart=False)
        wait_restarted(fleet, "asset:mill-1", 2)
        later = fleet.ingest(vibration("mill-1", range(16, 22)) + counts("sku-b", range(16, 22)))

        resumed = [r for r in later if r.asset_id == "mill-1"]
        assert resumed[0].seq == before.seq + 1 and resumed[0].baseline_ready
        # Same baseline, same anomaly scores, same trend: as if it had never been killed.
        assert same_reports(resumed, reference(specs[0], vibration("mill-1", range(22)))[16:])
        stats = fleet.stats()
        assert (stats["asset:mill-1"].incarnation, stats["asset:mill-1"].restored) == (
            2,
            ("mill-1",),
        )
        assert stats["asset:sku-b"].incarnation == 1
        fresh = fleet.reports_since(page.cursor)
        assert sorted(r.report_id for r in fresh.reports) == sorted(r.report_id for r in later)
        assert fresh.missed == 0

        # Re-delivery (a source replays its last minutes): same reports, nothing assessed twice.
        again = fleet.ingest(vibration("mill-1", range(19, 22)))
        assert again == resumed[3:]
        assert fleet.stats()["asset:mill-1"].duplicates == 3
        assert len(fleet.reports_since(fresh.cursor).reports) == 0

        # Bad input inside an actor reaches the caller as our error, not as a Ray traceback.
        naive = Reading("sku-b", datetime(2026, 3, 3, 6, 0), {"stock": 10.0})
        with pytest.raises(InputError, match="'sku-b' at 2026-03-03T06:00:00 has no timezone"):
            fleet.ingest([naive])

        # Killed for good: the caller gets our error naming the actor.
        fleet.kill("sku-b", restart=False)
        with pytest.raises(AgentRuntimeError, match=r"ingest on actor 'asset:sku-b'.*max_restarts"):
            for h in range(22, 42):  # ray.kill is asynchronous: a call may still slip in before it
                fleet.ingest(counts("sku-b", range(h, h + 1)))
    finally:
        fleet.stop()


@pytest.mark.integration
def test_sharded_actor_restores_every_agent_it_hosts(fleet_args: dict[str, Any]) -> None:
    from agents.runtime.adapter import AgentFleet

    broken = MachineAgentSpec(asset_id="mill-9", config={"sensors": []})
    with pytest.raises(ConfigError, match=r"asset 'mill-9' \(machine\) config.*field sensors"):
        AgentFleet.start([sku("sku-a"), broken], **fleet_args)  # before any actor is made

    specs = [sku("sku-c"), sku("sku-a"), sku("sku-b")]
    fleet = AgentFleet.start(specs, shard_size=2, **fleet_args)
    try:
        assert [fleet.actor_name(a) for a in ("sku-a", "sku-b", "sku-c")] == [
            "shard:0",
            "shard:0",
            "shard:1",
        ]
        fleet.ingest([r for s in specs for r in counts(s.asset_id, range(10))])
        fleet.kill("sku-b")
        wait_restarted(fleet, "shard:0", 2)
        later = fleet.ingest([r for s in specs for r in counts(s.asset_id, range(10, 14))])
        for spec in specs:
            mine = [r for r in later if r.asset_id == spec.asset_id]
            assert same_reports(mine, reference(spec, counts(spec.asset_id, range(14)))[10:])
        assert fleet.stats()["shard:0"].restored == ("sku-a", "sku-b")
        assert len(set(fleet.placement().values())) == 1  # one node here; see issue 5 for more
        # A new asset joins the running fleet in an actor of its own.
        assert fleet.get_or_create(sku("sku-d")) == "asset:sku-d"
        assert fleet.get_or_create(sku("sku-a")) == "shard:0"
        assert fleet.ingest(counts("sku-d", range(2)))[1].report_id == "sku-d:1"
    finally:
        fleet.stop()


class _CrashingStore(FileCheckpointStore):
    """Dies (like a killed process) when asked to write one key, after the writes before it."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.crash_on: str | None = None

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        if key == self.crash_on:
            raise KeyboardInterrupt(f"killed while writing {key}")
        super().save(key, record)


def test_crash_between_checkpoint_writes_loses_no_report_and_doubles_none(tmp_path: Path) -> None:
    specs = [sku("sku-a"), sku("sku-b")]
    store = _CrashingStore(tmp_path)
    host = AssetActor("shard:0", specs, store)
    host.ingest(counts("sku-a", range(8)) + counts("sku-b", range(8)))
    batch = counts("sku-a", range(8, 11)) + counts("sku-b", range(8, 11))
    store.crash_on = "agent:sku-b"
    with pytest.raises(KeyboardInterrupt):
        host.ingest(batch)  # sku-a's state saved, sku-b's not: the process dies here

    restarted = AssetActor("shard:0", specs, FileCheckpointStore(tmp_path))
    retried = restarted.ingest(batch)
    expected = {s.asset_id: reference(s, counts(s.asset_id, range(11)))[8:] for s in specs}
    assert [r for r in retried if r.asset_id == "sku-a"] == expected["sku-a"]  # given again
    assert [r for r in retried if r.asset_id == "sku-b"] == expected["sku-b"]  # made again
    # A consumer that had read up to before the crashed batch misses nothing and gets each once,
    # at the cursors the crashed incarnation gave them (the re-made ones are not published again).
    page = restarted.reports_since(16)
    assert page.missed == 0 and page.cursor == 22
    assert sorted(r.report_id for r in page.reports) == sorted(r.report_id for r in retried)



def test_sub_asset_reports_of_a_plant_energy_agent_are_published_and_kept(tmp_path: Path) -> None:
    spec = EnergyAgentSpec(
        asset_id="site-energy",
        config={
            "meters": [
                {"meter_id": "main", "kind": "plant_main"},
                {"meter_id": "comp-1", "kind": "compressor"},
            ]
        },
    )
    readings = [
        Reading(
            "site-energy",
            T0 + timedelta(hours=h),
            {
                "production_rate": 50.0,
                "main.power": 300.0 + h % 3,
                "comp-1.power": 60.0,
                "comp-1.flow": 9.5,
            },
        )
        for h in range(4)
    ]
    store = FileCheckpointStore(tmp_path)
    host = AssetActor("asset:site-energy", [spec], store)
    reports = host.ingest(readings)
    assert [r.report_id for r in reports[-3:]] == ["site-energy:3", "main:3", "comp-1:3"]
    assert host.ingest(readings[-1:]) == reports[-3:]  # re-delivered: all three again
    restarted = AssetActor("asset:site-energy", [spec], store)
    assert sorted(restarted.latest()) == ["comp-1", "main", "site-energy"]
    assert restarted.latest()["comp-1"] == reports[-1]


class _CountingStore(FileCheckpointStore):
    """Counts agent saves per ``ingest`` call, and which were fsynced."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.saves: list[tuple[str, bool]] = []

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        if key.startswith("agent:"):
            self.saves.append((key, True))
        super().save(key, record)

    def save_atomic(self, key: str, record: Mapping[str, Any]) -> None:
        self.saves.append((key, False))
        super().save_atomic(key, record)


def test_time_based_saves_take_turns_and_each_agent_is_saved_every_period(tmp_path: Path) -> None:
    """Saving every agent once a minute, all at once, stalled a 10,000-asset loop for seconds
    (issue 16): the agents take turns spread over the minute, each still saved every minute."""
    now = [0.0]
    store = _CountingStore(tmp_path)
    specs = [sku(f"sku-{i}") for i in range(12)]
    policy = CheckpointPolicy(every_readings=None, every_seconds=60)
    host = AssetActor("shard:0", specs, store, policy=policy, clock=lambda: now[0])
    per_batch: list[int] = []
    saved_at: dict[str, list[float]] = {}
    for k in range(24):  # a batch every 5 s for 2 minutes
        now[0] = 5.0 * (k + 1)
        before = len(store.saves)
        host.ingest([r for s in specs for r in counts(s.asset_id, range(k, k + 1))])
        per_batch.append(len(store.saves) - before)
        for key, _ in store.saves[before:]:
            saved_at.setdefault(key, []).append(now[0])
    assert max(per_batch) <= 2 and sum(per_batch[:12]) == 12  # a turn each in the first minute
    assert set(saved_at) == {f"agent:sku-{i}" for i in range(12)}
    for times in saved_at.values():  # every agent at least once a minute, never twice at once
        gaps = [b - a for a, b in zip([0.0, *times], [*times, 120.0], strict=False)]
        assert max(gaps) <= 60.0
    assert not any(durable for _, durable in store.saves)  # turns: atomic, no fsync each
    # A save of all of them (a stop, a hand-over) is durable and spreads the turns again.
    saved = host.checkpoint()  # the changed ones: all but those whose turn was this batch
    assert saved >= 10 and all(d for _, d in store.saves[-saved:])
    now[0] += 5.0
    before = len(store.saves)
    host.ingest([r for s in specs for r in counts(s.asset_id, range(30, 31))])
    assert len(store.saves) - before <= 2

    # What the turns saved is what a restarted host resumes from.
    restarted = AssetActor("shard:0", specs, FileCheckpointStore(tmp_path), policy=policy)
    assert set(restarted.stats().restored) == {s.asset_id for s in specs}
