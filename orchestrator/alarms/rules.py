"""Which alarms should be active: plain functions from health reports and waiting workflows.

A rule returns the *conditions* that hold now, each under a key that stays the same from tick to
tick (``health:<asset>``, ``instrument:<asset>:<sensor>``, ``workflow:<workflow id>``); the service
raises an alarm for a new key and clears the alarm of a key that is gone. Priorities (P1 most
urgent) follow the status or the workflow's own priority:

============================  =========================================================
condition                     priority
============================  =========================================================
health red                    P1
health amber                  P2
instrument (sensor) fault     P3
approval waiting              its action's priority, else P3
approval escalated            one above the approval's, at least P2
partner error (attention)     P2
review waiting for its owner  P3
============================  =========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from agents.models import HealthReport, Status
from orchestrator.alarms.model import PRIORITIES, AlarmSource, Condition, Place
from orchestrator.config import PlantConfig
from orchestrator.web.models import ApprovalItem

HEALTH_PRIORITY = {Status.RED: "P1", Status.AMBER: "P2"}
INSTRUMENT_PRIORITY = "P3"


def health_key(asset_id: str) -> str:
    return f"health:{asset_id}"


def instrument_key(asset_id: str, sensor: str) -> str:
    return f"instrument:{asset_id}:{sensor}"


def workflow_key(workflow_id: str) -> str:
    return f"workflow:{workflow_id}"


def from_report(report: HealthReport) -> list[Condition]:
    """The conditions one health report shows: its status and each instrument fault."""
    conditions: list[Condition] = []
    priority = HEALTH_PRIORITY.get(report.status)
    worst = [i for i in report.indicators if i.status in (Status.AMBER, Status.RED)]
    # Amber only because an instrument is faulty: the instrument alarms below say so, once.
    instrument_only = not worst and not report.findings and bool(report.sensor_faults)
    if priority is not None and not instrument_only:
        conditions.append(
            Condition(
                key=health_key(report.asset_id),
                asset_id=report.asset_id,
                source=AlarmSource.HEALTH,
                priority=priority,
                message=f"{report.asset_id} {report.status.value}: {report.summary}".strip(": "),
                evidence={
                    "report_id": report.report_id,
                    "status": report.status.value,
                    "health_score": round(report.health_score, 3),
                    "indicators": {
                        i.name: {
                            "value": i.value,
                            "unit": i.unit,
                            "amber_at": i.amber_at,
                            "red_at": i.red_at,
                        }
                        for i in worst[:6]
                    },
                    "findings": list(report.findings),
                },
                time=report.time,
            )
        )
    for fault in report.sensor_faults:
        owner = fault.asset or report.asset_id
        if owner != report.asset_id:
            continue  # a roll-up repeats a sub-asset's fault: that asset raises it itself
        conditions.append(
            Condition(
                key=instrument_key(owner, fault.sensor),
                asset_id=owner,
                source=AlarmSource.INSTRUMENT,
                priority=INSTRUMENT_PRIORITY,
                message=f"check instrument {fault.sensor} on {owner}: {fault.kind.value} ({fault.detail})",
                evidence={"report_id": report.report_id, "sensor": fault.sensor,
                          "fault": fault.kind.value, "detail": fault.detail},
                time=report.time,
            )
        )
    return conditions


def _raise(priority: str, by: int = 1) -> str:
    index = PRIORITIES.index(priority) if priority in PRIORITIES else 2
    return PRIORITIES[max(0, index - by)]


def from_approval(item: ApprovalItem, now: datetime) -> Condition | None:
    """A workflow waiting for a person: an approval, an escalated one, a partner error, a review."""
    base = item.priority if item.priority in PRIORITIES else "P3"
    if item.state == "pending":
        priority, what = base, "approval waiting"
    elif item.state == "escalated":
        priority, what = min(_raise(base), "P2"), "approval escalated"
    elif item.state == "attention":
        priority, what = "P2", "needs a person after a partner error"
    elif item.state == "review":
        priority, what = "P3", "review waiting for the asset's owner"
    else:
        return None
    deadline = f"; deadline {item.deadline:%Y-%m-%d %H:%M}" if item.deadline else ""
    return Condition(
        key=workflow_key(item.id),
        asset_id=item.asset_id or item.id,
        source=AlarmSource.WORKFLOW,
        priority=priority,
        message=f"{item.title}: {what} ({', '.join(item.roles) or 'anyone'}){deadline}"
        + (f" — {item.reason}" if item.reason else ""),
        evidence={
            "workflow_id": item.id,
            "kind": item.kind,
            "state": item.state,
            "amount": item.amount,
            "currency": item.currency,
            "roles": list(item.roles),
            "decision_id": item.decision_id,
            "requested_at": item.requested_at.isoformat() if item.requested_at else None,
        },
        # The plant's clock (as for health alarms), so the KPIs count both on one time line.
        time=now,
    )


def from_approvals(items: Iterable[ApprovalItem], now: datetime) -> list[Condition]:
    return [c for c in (from_approval(i, now) for i in items) if c is not None]


def places(config: PlantConfig) -> dict[str, Place]:
    """Each asset's place in the plant (site / area / line / cell) from the plant file."""
    out: dict[str, Place] = {}
    tables: list[tuple[str, Mapping[str, object]]] = [
        *((str(t.get("id")), t) for t in config.machines),
        *((str(t.get("sku")), t) for t in config.inventory),
        *((str(t.get("system_id")), t) for t in config.energy),
    ]
    for asset_id, table in tables:
        out[asset_id] = Place(
            site=config.site,
            area=str(table.get("area") or ""),
            line=str(table.get("line") or ""),
            cell=str(table.get("cell") or ""),
        )
    return out


__all__ = [
    "from_approval",
    "from_approvals",
    "from_report",
    "health_key",
    "instrument_key",
    "places",
    "workflow_key",
]
