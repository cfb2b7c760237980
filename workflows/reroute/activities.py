"""Reroute activities: read queues and machines from the MES, move jobs, set / lift constraints."""

from __future__ import annotations

from temporalio import activity

from workflows.common import partner_boundary
from workflows.integrations.mes import MesClient
from workflows.models import ConstraintChange, MachineLoad, MoveOrder, PlannedJob, RerouteSituation


class RerouteActivities:
    def __init__(self, mes: MesClient) -> None:
        self._mes = mes

    @activity.defn(name="get_situation")
    async def get_situation(self, from_asset: str) -> RerouteSituation:
        """The jobs queued on ``from_asset`` and every machine with its capabilities and queued hours."""
        with partner_boundary():
            jobs = await self._mes.list_queued_jobs(from_asset)
            machines = await self._mes.list_machines()
            loads = []
            for machine in machines:
                queued = await self._mes.list_queued_jobs(machine.asset_id) if machine.asset_id != from_asset else ()
                loads.append(
                    MachineLoad(
                        asset_id=machine.asset_id,
                        capabilities=tuple(sorted(machine.capability_ids())),
                        queued_h=sum(j.duration_h for j in queued),
                        constrained=machine.constrained,
                    )
                )
        return RerouteSituation(
            jobs=tuple(
                PlannedJob(job_id=j.job_id, asset_id=j.asset_id, required_capabilities=j.required_capabilities,
                           duration_h=j.duration_h, sequence=j.sequence)
                for j in jobs
            ),
            machines=tuple(loads),
        )

    @activity.defn(name="move_job")
    async def move_job(self, order: MoveOrder) -> bool:
        with partner_boundary():
            move = await self._mes.move_job(order.job_id, order.to_asset, order.idempotency_key)
        return move.moved

    @activity.defn(name="set_constraint")
    async def set_constraint(self, change: ConstraintChange) -> None:
        with partner_boundary():
            await self._mes.set_constraint(change.asset_id, change.reason)

    @activity.defn(name="release_constraint")
    async def release_constraint(self, change: ConstraintChange) -> None:
        with partner_boundary():
            await self._mes.release_constraint(change.asset_id)
