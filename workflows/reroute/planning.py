"""Pure rerouting rules (deterministic; imported by the workflow and unit tests)."""

from __future__ import annotations

from workflows.models import JobMove, RerouteSituation


def plan_moves(
    situation: RerouteSituation, *, from_asset: str, capability: str | None = None
) -> tuple[tuple[JobMove, ...], tuple[str, ...]]:
    """Assign each queued job (queue order) to the capable machine where it waits least.

    A machine is capable when its ISA-95 capability list holds every capability the job needs
    (plus ``capability`` when the action names one). Each placement adds the job's hours to that
    machine's queue, so later jobs see the delay earlier ones caused. Returns (moves, unplaced ids).
    """
    load = {m.asset_id: m.queued_h for m in situation.machines}
    moves: list[JobMove] = []
    unplaced: list[str] = []
    for job in sorted(situation.jobs, key=lambda j: j.sequence):
        needs = set(job.required_capabilities) | ({capability} if capability else set())
        candidates = [
            m for m in situation.machines
            if m.asset_id != from_asset and not m.constrained and needs <= set(m.capabilities)
        ]
        if not candidates:
            unplaced.append(job.job_id)
            continue
        # Least delay first; the asset id breaks ties so the plan is the same on every replay.
        best = min(candidates, key=lambda m: (load[m.asset_id], m.asset_id))
        moves.append(JobMove(job_id=job.job_id, from_machine=from_asset, to_machine=best.asset_id,
                             delay_h=load[best.asset_id]))
        load[best.asset_id] += job.duration_h
    return tuple(moves), tuple(unplaced)
