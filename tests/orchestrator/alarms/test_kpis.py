"""Alarm-rate KPIs: rate per 10 minutes, floods, chattering, stale, top 10."""

from __future__ import annotations

from datetime import timedelta

from agents.models import Status
from orchestrator.alarms import AlarmService
from orchestrator.alarms.kpis import compute
from tests.orchestrator.alarms.conftest import T0, report


def kpis(service: AlarmService) -> dict:
    store = service.store
    return compute(store.activations(), store.list(include_cleared=False), store.plant_now() or T0)


def test_rate_floods_chattering_and_stale(service: AlarmService) -> None:
    t = T0
    # mill-1 chatters: amber, green, amber, green, amber within one minute.
    for i, status in enumerate([Status.AMBER, Status.GREEN] * 2 + [Status.AMBER]):
        service.observe_reports([report("mill-1", status, t + timedelta(seconds=10 * i), seq=i)])
    figures = kpis(service)
    assert figures["chattering"] == 1 and figures["chattering_alarms"] == ["health:mill-1"]
    assert figures["floods"] == 0 and figures["activations"] == 3
    assert figures["top"][0] == {"key": "health:mill-1", "asset_id": "mill-1", "count": 3}
    # A flood: 12 instrument alarms on lathe-1 in two minutes.
    from agents.models import FaultKind, SensorFault

    for i in range(12):
        fault = SensorFault(sensor=f"s{i}", kind=FaultKind.NAN, detail="NaN")
        service.observe_reports([report("lathe-1", Status.GREEN, t + timedelta(seconds=10 * i),
                                        seq=100 + i, faults=(fault,))])
    figures = kpis(service)
    assert figures["floods"] == 1 and figures["peak_10_min"] >= 11
    assert figures["by_line"]["line-b"]["activations"] == 12
    assert figures["by_line"]["line-a"]["activations"] == 3
    # 25 h later mill-1 is still amber and lathe-1's last fault (s11) still holds: both stale.
    service.observe_reports([report("mill-1", Status.AMBER, t + timedelta(hours=25), seq=50)])
    figures = kpis(service)
    open_keys = {a.id: a.key for a in service.store.list(include_cleared=False)}
    assert sorted(open_keys[i] for i in figures["stale_alarms"]) == [
        "health:mill-1", "instrument:lathe-1:s11"]
    assert figures["stale"] == 2
    assert figures["per_10_min"] > 0
    assert set(figures) >= {"per_10_min", "floods", "chattering", "stale"}


def test_no_alarms_no_rate(service: AlarmService) -> None:
    figures = kpis(service)
    assert figures["per_10_min"] == 0.0 and figures["floods"] == 0 and figures["stale"] == 0
