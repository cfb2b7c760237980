"""Alarm life without any server: raise, clear, acknowledge, shelve (and its expiry), suppress."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agents.models import FaultKind, SensorFault, Status
from orchestrator.alarms import AlarmService, AlarmState, AlarmStore, Refused
from orchestrator.alarms.model import Action
from orchestrator.web.models import ApprovalItem
from tests.orchestrator.alarms.conftest import T0, Clock, report, user


def only(service: AlarmService, **kw: object):  # noqa: ANN201
    alarms = service.list(**kw)  # type: ignore[arg-type]
    assert len(alarms) == 1, alarms
    return alarms[0]


def test_amber_raises_a_p2_alarm_with_its_place_and_evidence(service: AlarmService) -> None:
    service.observe_reports([report("mill-1", Status.GREEN, T0)])
    assert service.list() == []
    service.observe_reports([report("mill-1", Status.AMBER, T0 + timedelta(minutes=1), seq=2)])
    alarm = only(service)
    assert alarm.id.startswith("ALM-")
    assert (alarm.priority, alarm.state) == ("P2", AlarmState.ACTIVE_UNACK)
    assert alarm.place.model_dump() == {"site": "pc", "area": "machining", "line": "line-a",
                                        "cell": "cell-3"}
    assert alarm.evidence["indicators"]["spindle_vel"]["value"] == 5.1
    assert [h.action for h in alarm.history] == [Action.RAISED]


def test_red_raises_priority_and_asks_for_a_new_acknowledgement(
    service: AlarmService, config
) -> None:
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    alarm = only(service)
    service.acknowledge(alarm.id, user(config, "omar"))
    service.observe_reports([report("mill-1", Status.RED, T0 + timedelta(minutes=5), seq=2)])
    alarm = only(service)
    assert (alarm.priority, alarm.state) == ("P1", AlarmState.ACTIVE_UNACK)


def test_states_follow_isa_18_2(service: AlarmService, config) -> None:
    omar = user(config, "omar")
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    alarm_id = only(service).id
    # Clears before anyone looked: cleared unacknowledged, still listed.
    service.observe_reports([report("mill-1", Status.GREEN, T0 + timedelta(minutes=2), seq=2)])
    assert only(service).state is AlarmState.CLEARED_UNACK
    # Comes back: the same alarm, active again, a second activation.
    service.observe_reports([report("mill-1", Status.AMBER, T0 + timedelta(minutes=3), seq=3)])
    alarm = only(service)
    assert (alarm.id, alarm.state, alarm.activations) == (alarm_id, AlarmState.ACTIVE_UNACK, 2)
    service.acknowledge(alarm_id, omar, "on my way")
    assert only(service).state is AlarmState.ACTIVE_ACK
    with pytest.raises(Refused, match="already acknowledged"):
        service.acknowledge(alarm_id, omar)
    service.observe_reports([report("mill-1", Status.GREEN, T0 + timedelta(minutes=9), seq=4)])
    assert service.list() == []  # acknowledged and cleared: closed
    assert service.get(alarm_id).state is AlarmState.CLEARED
    # A new occurrence after closing is a new alarm.
    service.observe_reports([report("mill-1", Status.AMBER, T0 + timedelta(hours=1), seq=5)])
    assert only(service).id != alarm_id


def test_instrument_faults_are_their_own_p3_alarms(service: AlarmService) -> None:
    fault = SensorFault(sensor="bearing_temp", kind=FaultKind.FLATLINE, detail="no change in 30 min")
    service.observe_reports([report("lathe-1", Status.GREEN, T0, faults=(fault,))])
    alarm = only(service)
    # Amber because of the instrument alone (no indicator beyond its threshold): one alarm, not two.
    amber_by_fault = report("lathe-1", Status.AMBER, T0, seq=2, faults=(fault,))
    amber_by_fault = amber_by_fault.model_copy(update={"indicators": ()})
    service.observe_reports([amber_by_fault])
    assert only(service).id == alarm.id
    assert alarm.priority == "P3" and alarm.key == "instrument:lathe-1:bearing_temp"
    assert "check instrument bearing_temp" in alarm.message


def test_a_timed_shelve_returns_by_itself_when_its_time_runs_out(
    service: AlarmService, config, clock: Clock
) -> None:
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    alarm_id = only(service).id
    service.shelve(alarm_id, user(config, "omar"), reason="tool change on mill 1",
                   duration=timedelta(hours=1))
    assert only(service, status="shelved").shelved.by == "omar"  # type: ignore[union-attr]
    assert not only(service).annunciated
    clock.advance(minutes=59)
    assert only(service).shelved is not None
    clock.advance(minutes=2)
    alarm = only(service)
    assert alarm.shelved is None and alarm.annunciated
    assert alarm.history[-1].action is Action.SHELVE_EXPIRED
    assert alarm.history[-1].user == "autoops"


def test_a_one_shot_shelve_ends_when_the_alarm_clears(service: AlarmService, config) -> None:
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    alarm_id = only(service).id
    service.shelve(alarm_id, user(config, "omar"), reason="known, bearing on order")
    assert only(service).shelved.kind == "one_shot"  # type: ignore[union-attr]
    service.observe_reports([report("mill-1", Status.GREEN, T0 + timedelta(minutes=5), seq=2)])
    assert service.get(alarm_id).shelved is None


def test_shelving_is_limited_by_role(service: AlarmService, config) -> None:
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    alarm_id = only(service).id
    with pytest.raises(Refused, match="needs a reason"):
        service.shelve(alarm_id, user(config, "omar"), reason=" ", duration=timedelta(hours=1))
    with pytest.raises(Refused, match="at most 8 h"):  # the early shift is 8 h long
        service.shelve(alarm_id, user(config, "omar"), reason="x", duration=timedelta(hours=9))
    service.shelve(alarm_id, user(config, "ana"), reason="waiting for parts",
                   duration=timedelta(days=3))
    with pytest.raises(Refused, match="may look at alarms but not act"):
        service.acknowledge(alarm_id, user(config, "vic"))
    with pytest.raises(Refused, match="may not assign"):
        service.assign(alarm_id, user(config, "omar"), "ana")
    alarm = service.assign(alarm_id, user(config, "ana"), "role:operator", "keep an eye on it")
    assert alarm.assignee == "role:operator"


def test_every_human_action_is_in_the_audit_trail(service: AlarmService, config, clock) -> None:
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    alarm_id = only(service).id
    service.acknowledge(alarm_id, user(config, "omar"), "seen, checking")
    clock.advance(minutes=3)
    service.note(alarm_id, user(config, "omar"), "coolant low, topped up")
    service.shelve(alarm_id, user(config, "omar"), reason="watching", duration=timedelta(hours=1))
    service.unshelve(alarm_id, user(config, "ana"))
    people = [(h.user, h.action.value, h.comment, h.time) for h in service.get(alarm_id).history
              if h.user != "autoops"]
    assert people == [
        ("omar", "acknowledge", "seen, checking", T0),
        ("omar", "note", "coolant low, topped up", T0 + timedelta(minutes=3)),
        ("omar", "shelve", "watching", T0 + timedelta(minutes=3)),
        ("ana", "unshelve", "", T0 + timedelta(minutes=3)),
    ]


def test_alarms_of_an_asset_under_maintenance_are_suppressed_not_hidden(
    service: AlarmService,
) -> None:
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    assert only(service).suppressed == ""
    why = {"mill-1": "maintenance maint:pc:mill-1"}
    # The job opens: the alarm stays listed, marked suppressed by design (even without a new report).
    service.observe_reports([report("lathe-1", Status.GREEN, T0)], suppressed=why)
    alarm = only(service)
    assert alarm.suppressed == "maintenance maint:pc:mill-1" and not alarm.annunciated
    assert only(service, status="suppressed").id == alarm.id
    service.observe_reports([report("lathe-1", Status.GREEN, T0)], suppressed={})
    assert only(service).suppressed == ""
    # Cleared while the job is open, then the job closes: no longer marked suppressed.
    service.observe_reports([report("mill-1", Status.GREEN, T0 + timedelta(minutes=1), seq=2)],
                            suppressed=why)
    assert only(service).state is AlarmState.CLEARED_UNACK and only(service).suppressed
    service.observe_reports([report("mill-1", Status.GREEN, T0 + timedelta(minutes=2), seq=3)],
                            suppressed={})
    assert only(service).suppressed == ""


def test_workflows_waiting_for_a_person_raise_alarms(service: AlarmService) -> None:
    item = ApprovalItem(id="po:pc:BAR:1", kind="part_order", title="PO-1 steel bar",
                        asset_id="BAR", roles=("buyer", "plant_manager"), amount=45000.0)
    service.observe_approvals([item], T0)
    alarm = only(service)
    assert alarm.key == "workflow:po:pc:BAR:1" and alarm.priority == "P3"
    assert "approval waiting (buyer, plant_manager)" in alarm.message
    service.observe_approvals([item.model_copy(update={"state": "escalated"})], T0)
    assert only(service).priority == "P2"
    service.observe_approvals([], T0 + timedelta(hours=1))  # approved: nobody needs to act
    assert service.list() == []  # answered in the inbox: nothing left to acknowledge
    assert only(service, include_cleared=True).state is AlarmState.CLEARED


def test_the_store_is_durable_and_readable_while_written(tmp_path: Path, config, clock) -> None:
    path = tmp_path / "alarms.sqlite"
    service = AlarmService(AlarmStore(path), config, clock=clock)
    service.observe_reports([report("mill-1", Status.AMBER, T0)])
    service.acknowledge("ALM-1", user(config, "omar"), "seen")
    reader = AlarmStore(path, read_only=True)
    alarm = reader.get("ALM-1")
    assert alarm is not None and alarm.state is AlarmState.ACTIVE_ACK
    assert [h.user for h in alarm.history] == ["autoops", "omar"]
    assert reader.plant_now() == T0
    reader.close()
    service.store.close()
