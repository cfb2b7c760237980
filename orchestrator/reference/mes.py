"""Reference MES: machines with ISA-95 style capabilities, the production plan, queued jobs.

Seeded from a ``PlantPlan`` at first start (``DEFAULT_PLANT`` unless given); job moves and
constraints persist in ``state_dir / "mes.sqlite"``. ``move_job`` refuses (422) a machine that
lacks one of the job's capabilities or is constrained, and is idempotent by key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Header
from pydantic import SecretStr

from orchestrator.reference.common import Background, Clock, Refusal, make_app, utc_now
from orchestrator.reference.knobs import KnobPanel, Knobs
from orchestrator.reference.ledger import Ledger
from orchestrator.reference.mes_plan import DEFAULT_PLANT, PlantPlan, expand
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


def create_mes_app(
    state_dir: Path,
    *,
    plan: PlantPlan = DEFAULT_PLANT,
    knobs: Knobs | None = None,
    clock: Clock = utc_now,
    api_key: SecretStr | str | None = None,
) -> FastAPI:
    """The MES app. The plan seeds the ledger once; later starts keep the moved jobs."""
    ledger = Ledger(Path(state_dir) / "mes.sqlite")
    panel: KnobPanel[Knobs] = KnobPanel(knobs or Knobs())
    if ledger.get("meta", "seeded") is None:
        for machine in plan.machines:
            ledger.put("machines", machine.asset_id, machine.model_dump(mode="json"))
        for job in plan.jobs:
            ledger.put("jobs", job.job_id, job.model_dump(mode="json"))
        ledger.put("meta", "seeded", {"at": clock().isoformat()})
    app = make_app("autoops reference MES", panel, ledger, Background(), api_key=api_key)

    def machines() -> dict[str, Machine]:
        return {d["asset_id"]: Machine.model_validate(d) for d in ledger.all("machines")}

    def machine(asset_id: str) -> Machine:
        doc = ledger.get("machines", asset_id)
        if doc is None:
            raise Refusal(f"unknown machine {asset_id!r}; known: {sorted(machines())}", 404)
        return Machine.model_validate(doc)

    def queue(asset_id: str) -> list[QueuedJob]:
        jobs = (QueuedJob.model_validate(d) for d in ledger.all("jobs"))
        return sorted((j for j in jobs if j.asset_id == asset_id), key=lambda j: j.sequence)

    @app.get("/machines", response_model=MachineList)
    async def list_machines() -> MachineList:
        return MachineList(machines=tuple(machines().values()))

    @app.get("/schedule", response_model=Schedule)
    async def schedule(
        start: datetime, end: datetime, asset: str | None = None, line: str | None = None
    ) -> Schedule:
        start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
        if end <= start:
            raise Refusal(f"end {end.isoformat()} must be after start {start.isoformat()}")
        if asset is not None:
            machine(asset)
        if line is not None and line not in {m.line for m in machines().values()}:
            raise Refusal(f"unknown line {line!r}", 404)
        return Schedule(
            asset_id=asset,
            line=line,
            start=start,
            end=end,
            windows=tuple(expand(plan, start, end, asset)),
        )

    @app.get("/jobs", response_model=JobList)
    async def list_jobs(asset: str) -> JobList:
        machine(asset)
        return JobList(jobs=tuple(queue(asset)))

    @app.post("/jobs/{job_id}/move", response_model=JobMove)
    async def move_job(
        job_id: str, request: MoveRequest, idempotency_key: str | None = Header(default=None)
    ) -> JobMove:
        key = request.idempotency_key
        if idempotency_key is not None and idempotency_key != key:
            raise Refusal("Idempotency-Key header differs from idempotency_key in the body")
        done = ledger.get("moves", key)
        if done is not None:
            if done["job_id"] != job_id or done["to_asset"] != request.to_asset:
                raise Refusal(f"idempotency key {key!r} was used for another move", 409)
            return JobMove.model_validate({**done["result"], "moved": False})
        doc = ledger.get("jobs", job_id)
        if doc is None:
            raise Refusal(f"unknown job {job_id!r}", 404)
        job = QueuedJob.model_validate(doc)
        target = machine(request.to_asset)
        if job.asset_id == target.asset_id:
            return JobMove(job=job, from_asset=job.asset_id, moved=False)
        missing = sorted(set(job.required_capabilities) - target.capability_ids())
        if missing:
            raise Refusal(
                f"machine {target.asset_id!r} lacks capability {', '.join(missing)} "
                f"needed by job {job_id!r}; choose a capable machine"
            )
        if target.constrained:
            raise Refusal(
                f"machine {target.asset_id!r} is constrained "
                f"({target.constraint_reason}); choose another machine"
            )
        source = job.asset_id
        tail = queue(target.asset_id)
        moved = job.model_copy(
            update={
                "asset_id": target.asset_id,
                "sequence": (tail[-1].sequence + 1) if tail else 1,
            }
        )
        ledger.put("jobs", job_id, moved.model_dump(mode="json"))
        for n, left in enumerate((j for j in queue(source) if j.job_id != job_id), start=1):
            if left.sequence != n:  # close the gap in the source queue
                ledger.put(
                    "jobs",
                    left.job_id,
                    left.model_copy(update={"sequence": n}).model_dump(mode="json"),
                )
        result = JobMove(job=moved, from_asset=source, moved=True)
        ledger.put(
            "moves",
            key,
            {
                "job_id": job_id,
                "to_asset": target.asset_id,
                "result": result.model_dump(mode="json"),
            },
        )
        return result

    @app.put("/machines/{asset_id}/constraint", response_model=Machine)
    async def set_constraint(asset_id: str, request: ConstraintRequest) -> Machine:
        updated = machine(asset_id).model_copy(
            update={"constrained": True, "constraint_reason": request.reason}
        )
        ledger.put("machines", asset_id, updated.model_dump(mode="json"))
        return updated

    @app.delete("/machines/{asset_id}/constraint", response_model=Machine)
    async def release_constraint(asset_id: str) -> Machine:
        updated = machine(asset_id).model_copy(
            update={"constrained": False, "constraint_reason": ""}
        )
        ledger.put("machines", asset_id, updated.model_dump(mode="json"))
        return updated

    return app
