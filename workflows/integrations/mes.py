"""MES client: production schedule, queued jobs, machines with capabilities, job moves, constraints."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx

from workflows.integrations.http import PartnerHttp
from workflows.integrations.models import (
    ConstraintRequest,
    JobList,
    JobMove,
    Machine,
    MachineList,
    MoveRequest,
    QueuedJob,
    Schedule,
)


class MesClient:
    """Reads the plan and moves work. Every write is idempotent (a key, or naturally)."""

    def __init__(
        self, client: httpx.AsyncClient, *, timeout: httpx.Timeout | float | None = None
    ) -> None:
        self._http = PartnerHttp(client, partner="mes", timeout=timeout)

    async def get_schedule(
        self,
        start: datetime,
        end: datetime,
        *,
        asset_id: str | None = None,
        line: str | None = None,
    ) -> Schedule:
        """Planned production, break and maintenance windows touching ``[start, end)``."""
        params = {"start": start.isoformat(), "end": end.isoformat()}
        if asset_id is not None:
            params["asset"] = asset_id
        if line is not None:
            params["line"] = line
        schedule, _ = await self._http.call(
            "GET", "/schedule", operation="get_schedule", response_model=Schedule, params=params
        )
        assert schedule is not None
        return schedule

    async def list_queued_jobs(self, asset_id: str) -> tuple[QueuedJob, ...]:
        """Jobs waiting on the machine, in queue order."""
        jobs, _ = await self._http.call(
            "GET",
            "/jobs",
            operation="list_queued_jobs",
            response_model=JobList,
            params={"asset": asset_id},
        )
        assert jobs is not None
        return jobs.jobs

    async def list_machines(self) -> tuple[Machine, ...]:
        machines, _ = await self._http.call(
            "GET", "/machines", operation="list_machines", response_model=MachineList
        )
        assert machines is not None
        return machines.machines

    async def move_job(self, job_id: str, to_asset: str, idempotency_key: str) -> JobMove:
        """Move a queued job to another machine; the MES refuses (4xx) a machine lacking a capability."""
        move, _ = await self._http.call(
            "POST",
            f"/jobs/{quote(job_id, safe='')}/move",
            operation="move_job",
            response_model=JobMove,
            json_body=MoveRequest(to_asset=to_asset, idempotency_key=idempotency_key).model_dump(),
            headers={"Idempotency-Key": idempotency_key},
        )
        assert move is not None
        return move

    async def set_constraint(self, asset_id: str, reason: str) -> Machine:
        """Mark the machine constrained (no new work is planned on it); idempotent."""
        machine, _ = await self._http.call(
            "PUT",
            f"/machines/{quote(asset_id, safe='')}/constraint",
            operation="set_constraint",
            response_model=Machine,
            json_body=ConstraintRequest(reason=reason).model_dump(),
        )
        assert machine is not None
        return machine

    async def release_constraint(self, asset_id: str) -> Machine:
        """Lift the constraint after repair; idempotent."""
        machine, _ = await self._http.call(
            "DELETE",
            f"/machines/{quote(asset_id, safe='')}/constraint",
            operation="release_constraint",
            response_model=Machine,
        )
        assert machine is not None
        return machine
