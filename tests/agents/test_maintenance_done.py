"""'Maintenance done': after a bearing replacement the machine agent judges the new bearing afresh.

The spindle twin wears until the agent warns (amber, with a RUL from the rising trend); then the
bearing is replaced (a healthy twin from that moment on) and the agent is told so.
"""

from __future__ import annotations

import json
import math
import tomllib
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agents.base import Reading
from agents.errors import InputError
from agents.machine import MachineAgent
from agents.models import HealthReport, Status
from agents.runtime.actor import AssetActor
from agents.runtime.checkpoint import FileCheckpointStore
from agents.simulator.machine_twin import MachineTwin
from orchestrator.config import PlantConfig, parse_config
from tests.agents.test_runtime import mill, sku, vibration

SEED = 7
SAMPLE_PLANT = Path(__file__).parents[2] / "orchestrator" / "plants" / "precision_components.toml"


def worn_agent() -> tuple[MachineAgent, HealthReport]:
    """An agent that has just warned about the worn bearing: amber, with a trend-based RUL."""
    twin = MachineTwin(SEED)
    agent = MachineAgent(twin.asset)
    for reading in twin.readings():
        report = agent.assess(reading)
        if report.status is Status.AMBER and report.rul is not None:
            return agent, report
    raise AssertionError("the worn twin never drove the agent to amber with a RUL")


def new_bearing(after: datetime, hours: float = 70.0) -> list[Reading]:
    """Readings of the same spindle with a new bearing, strictly after the job at ``after``."""
    twin = MachineTwin(SEED + 1, onset_h=math.inf, life_h=math.inf, start=after)
    return [r for r in twin.readings(until_h=hours) if r.time > after]


def test_after_maintenance_the_new_bearing_is_judged_and_the_baseline_relearned() -> None:
    agent, warned = worn_agent()
    trend = next(i for i in warned.indicators if i.name == "spindle_vel.trend")
    assert trend.value is not None and trend.value > 0  # the worn bearing's rising trend
    old_median = agent.baseline.median["spindle_vel"]
    at = warned.time
    readings = new_bearing(at)

    # Without the message the agent keeps the worn bearing's verdict for a while.
    control = MachineAgent(agent.asset)
    control.restore(agent.snapshot())
    assert control.assess(readings[0]).status is Status.AMBER

    assert agent.maintenance_done(at) is True
    reports = [agent.assess(r) for r in readings]

    persistence = agent.th.persistence
    assert all(r.status is Status.GREEN for r in reports[:persistence])
    assert all(r.rul is None for r in reports)  # the worn bearing's RUL is gone
    assert all(r.baseline_ready for r in reports)  # judged by the old baseline meanwhile
    note = f"re-commissioning after maintenance at {at.isoformat()}"
    assert note in reports[0].summary and any(note in f for f in reports[0].findings)

    # The baseline closes once the asset's 48 h commissioning window from the job has passed.
    closed = next(i for i, r in enumerate(reports) if "baseline re-learned" in r.summary)
    hours = (reports[closed].time - at).total_seconds() / 3600.0
    assert 48.0 <= hours < 49.0
    assert all(note in r.summary for r in reports[:closed])
    assert not any("re-commissioning" in r.summary for r in reports[closed:])
    new_median = agent.baseline.median["spindle_vel"]
    healthy = [r.values["spindle_vel"] for r in readings if r.time <= reports[closed].time]
    assert new_median != old_median
    assert abs(new_median - sorted(healthy)[len(healthy) // 2]) < 0.05


def test_the_same_message_twice_changes_nothing_the_second_time() -> None:
    agent, warned = worn_agent()
    assert agent.maintenance_done(warned.time)
    once = json.dumps(agent.snapshot(), sort_keys=True)
    assert agent.maintenance_done(warned.time) is False
    assert json.dumps(agent.snapshot(), sort_keys=True) == once


def test_without_recommissioning_the_old_baseline_stays_and_the_trend_restarts() -> None:
    agent, warned = worn_agent()
    old_median = agent.baseline.median["spindle_vel"]
    agent.maintenance_done(warned.time, recommission=False)
    reports = [agent.assess(r) for r in new_bearing(warned.time, hours=60.0)]
    assert reports[0].status is Status.GREEN and reports[0].rul is None
    assert "trend restarted after maintenance" in reports[0].summary
    assert not any("re-commissioning" in r.summary for r in reports)
    assert agent.baseline.median["spindle_vel"] == old_median


@pytest.mark.parametrize("split", [0, 20])
def test_snapshot_restore_in_the_middle_gives_the_same_following_reports(split: int) -> None:
    agent, warned = worn_agent()
    agent.maintenance_done(warned.time)
    readings = new_bearing(warned.time)
    for r in readings[:split]:
        agent.assess(r)
    resumed = MachineAgent(agent.asset)
    resumed.restore(json.loads(json.dumps(agent.snapshot())))
    rest = readings[split:]
    assert [agent.assess(r) for r in rest] == [resumed.assess(r) for r in rest]
    # The restored agent also remembers the message: a retry is still a no-op.
    assert resumed.maintenance_done(warned.time) is False


def test_host_passes_the_message_saves_it_and_others_ignore_it(tmp_path: Path) -> None:
    specs = [mill("mill-1"), sku("sku-a")]
    store = FileCheckpointStore(tmp_path)
    host = AssetActor("shard:0", specs, store)
    host.ingest(vibration("mill-1", range(16)))
    at = vibration("mill-1", range(16))[-1].time
    assert host.maintenance_done("mill-1", at) is True
    assert host.maintenance_done("mill-1", at) is False
    assert host.maintenance_done("sku-a", at) is False  # an inventory agent has no bearing
    with pytest.raises(InputError, match="not 'mill-7'"):
        host.maintenance_done("mill-7", at)
    with pytest.raises(InputError, match="has no timezone"):
        host.maintenance_done("mill-1", at.replace(tzinfo=None))
    # Saved at once: a host that crashes before its next checkpoint still knows.
    restarted = AssetActor("shard:0", specs, store)
    report = restarted.ingest(vibration("mill-1", range(16, 17)))[0]
    assert f"after maintenance at {at.isoformat()}" in report.summary


@pytest.mark.integration
def test_message_reaches_the_actor_and_survives_its_restart(
    ray_session: None, tmp_path: Path
) -> None:
    from agents.runtime.adapter import AgentFleet
    from tests.agents.test_runtime import wait_restarted

    fleet = AgentFleet.start(
        [mill("mill-1")], namespace=f"test-{uuid.uuid4().hex[:8]}", checkpoint_dir=tmp_path
    )
    try:
        fleet.ingest(vibration("mill-1", range(16)))
        at = vibration("mill-1", range(16))[-1].time
        assert fleet.maintenance_done("mill-1", at) is True
        fleet.kill("mill-1", restart=True)  # ray.kill(actor, no_restart=False)
        wait_restarted(fleet, "asset:mill-1", 2)
        # Still known after the restart: the retried message changes nothing.
        assert fleet.maintenance_done("mill-1", at) is False
        reports = fleet.ingest(vibration("mill-1", range(16, 20)))
        assert [r.status for r in reports] == [Status.GREEN] * 4
        assert all(f"maintenance at {at.isoformat()}" in r.summary for r in reports)
        assert fleet.stats()["asset:mill-1"].incarnation == 2
        with pytest.raises(InputError, match="no actor hosts asset 'mill-7'"):
            fleet.maintenance_done("mill-7", at)
    finally:
        fleet.stop()


def _one_mill_plant(namespace: str) -> PlantConfig:
    """The sample plant cut down to mill 1 and its twin: one actor, no Temporal needed here."""
    data = tomllib.loads(SAMPLE_PLANT.read_text())
    data["machines"] = [m for m in data["machines"] if m["id"] == "mill-1"]
    data.pop("inventory", None)
    data.pop("energy", None)
    data["simulation"]["twins"] = [t for t in data["simulation"]["twins"] if t["asset"] == "mill-1"]
    data["ray"]["namespace"] = namespace
    return parse_config(data)


@pytest.mark.integration
async def test_completed_maintenance_work_order_reaches_the_machine_agent(
    ray_session: None, tmp_path: Path
) -> None:
    from orchestrator.ledger import WorkflowRecord
    from orchestrator.runtime import Orchestrator

    config = _one_mill_plant(f"test-{uuid.uuid4().hex[:8]}")
    # The Temporal client is only used to start workflows; this path starts none.
    orch = await Orchestrator.create(config, client=None, state_dir=tmp_path)  # type: ignore[arg-type]
    try:
        orch.workflows.opened(WorkflowRecord(workflow_id="wf-1", kind="schedule_maintenance", asset_id="mill-1"))
        await orch.on_work_order_completed("wf-1")
        assert orch.sim is not None and orch.sim.journal[-1]["event"] == "repair"
        # The agent already has the message for this time: telling it again changes nothing.
        assert orch.fleet.maintenance_done("mill-1", orch.now) is False
        assert orch.fleet.maintenance_done("mill-1", orch.now + timedelta(hours=1)) is True
    finally:
        orch.fleet.stop()
        orch.close()
