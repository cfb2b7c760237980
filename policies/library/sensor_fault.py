"""A sensor fault -> instrument check work order. Never a machine action: the sensor may be wrong.

One work order per faulty sensor; the key names the sensor, so a flatline that persists for days
stays one order. Works on every asset kind: meters and stock counters fail too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pydantic import BaseModel

from agents.models import AssetKind, HealthReport
from policies.base import Policy, PolicyContext
from policies.models import Autonomy, CreateWorkOrder, Priority, ProposedAction


class Params(BaseModel):
    for_duration_min: float = 5.0  # a single glitch is not worth a technician's walk
    priority: Priority = Priority.P3


def evaluate(
    reports: Sequence[HealthReport], ctx: PolicyContext, p: Params
) -> list[ProposedAction]:
    r = reports[-1]
    actions: list[ProposedAction] = []
    for fault in sorted(r.sensor_faults, key=lambda f: f.sensor):
        if fault.asset and fault.asset != r.asset_id:
            continue  # a roll-up repeating a sub-asset's fault: that asset's own report orders it
        order = CreateWorkOrder(
            asset_id=r.asset_id,
            priority=p.priority,
            instrument_check=True,
            sensor=fault.sensor,
            title=f"check instrument {fault.sensor} on {r.asset_id} ({fault.kind.value})",
            description=f"{fault.detail}. The machine itself is judged on its other sensors.",
        )
        actions.append(
            ProposedAction(
                action=order,
                autonomy=Autonomy.AUTO,
                asset_id=r.asset_id,
                dedup_key=f"{ctx.site}:{r.asset_id}:instrument:{fault.sensor}",
                explanation=f"Sensor {fault.sensor} on {r.asset_id} shows a {fault.kind.value} fault "
                f"({fault.detail}): check the instrument, not the machine.",
                evidence={
                    "sensor": fault.sensor,
                    "fault": fault.kind.value,
                    "detail": fault.detail,
                    "since": fault.since.isoformat() if fault.since else None,
                    "machine_status": r.status.value,
                },
            )
        )
    return actions


POLICY = Policy(
    id="sensor-fault",
    version="1.0.0",
    owner="instrumentation",
    description="Sensor fault: instrument check work order, never a machine action.",
    params=Params,
    evaluate=evaluate,
    autonomy=Autonomy.AUTO,
    asset_kinds=(AssetKind.MACHINE, AssetKind.INVENTORY, AssetKind.ENERGY),
    stale_after=timedelta(hours=1),
    cooldown=timedelta(hours=4),
    precedence=10,
    conflict_group="instrument",
)
