"""How a workflow run ended, in the decision log's words (``ActionResult``).

A closed workflow's result (``PartOrderResult``, ``MaintenanceResult``, ``WorkOrderResult``,
``RerouteResult``, read as JSON) or its failure becomes one ``ActionResult``: what it ended as,
who signed it, why, and the partner's reference. The loop records it against the decision that
started the workflow, once per run, so the decisions page shows "received by carla, ben
(PO-…)" or "rejected by ben — price too high" instead of "proposed" for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowFailureError
from temporalio.service import RPCError

from agents.errors import AutoopsError
from policies.models import ActionResult
from policies.store import DecisionLog

log = logging.getLogger(__name__)


async def record_result(
    client: Client,
    store: DecisionLog,
    description: WorkflowExecutionDescription,
    decision_id: str | None,
    *,
    now: datetime,
) -> ActionResult | None:
    """Tell the decision log how the closed run ``description`` that ``decision_id`` started
    ended (once per run); returns what was recorded, None without a decision."""
    if not decision_id:
        return None
    status = description.status.name.lower() if description.status else "unknown"
    payload, failure = None, ""
    if status == "completed":
        try:
            handle = client.get_workflow_handle(description.id, run_id=description.run_id)
            payload = await handle.result(follow_runs=False)
        except (WorkflowFailureError, RPCError) as exc:
            failure = str(getattr(exc, "cause", None) or exc)
    result = result_of(description.id, description.run_id, status, payload, failure=failure, time=now)
    try:
        store.record_result(decision_id, result)
    except AutoopsError as exc:  # a decision from another state directory: nothing to mark
        log.warning("result of %s not recorded: %s", description.id, exc)
        return None
    return result


def result_of(
    workflow_id: str,
    run_id: str,
    temporal_status: str,
    payload: Mapping[str, Any] | None,
    *,
    failure: str = "",
    time: datetime | None = None,
) -> ActionResult:
    """The ``ActionResult`` of one closed run. ``temporal_status``: Temporal's status in lower
    case (completed, failed, terminated, timed_out, canceled); ``payload``: the workflow's result
    when it completed; ``failure``: the error when it did not."""
    if temporal_status != "completed" or not isinstance(payload, Mapping):
        return ActionResult(
            workflow_id=workflow_id, run_id=run_id, ended=temporal_status, reason=failure[:500], time=time
        )
    approval = payload.get("approval") if isinstance(payload.get("approval"), Mapping) else {}
    state = str(approval.get("state", ""))
    votes = [v for v in approval.get("votes", ()) if isinstance(v, Mapping)]
    # Who decided: the approvers of an approved request, the rejecters of a rejected one.
    deciding = state != "rejected"
    by = tuple(dict.fromkeys(str(v.get("user")) for v in votes if bool(v.get("approve")) == deciding))
    reason = str(payload.get("reason") or "")
    if state == "rejected":  # the rejecters' own words
        said = [str(v.get("comment")) for v in votes if not v.get("approve") and v.get("comment")]
        reason = "; ".join(said) or str(approval.get("reason") or reason)
    unplaced = payload.get("unplaced") or ()
    if unplaced:
        stay = ", ".join(str(j) for j in unplaced)
        reason = "; ".join(x for x in (reason, f"jobs {stay} stay: no capable machine") if x)
    moves = [m for m in payload.get("moves") or () if isinstance(m, Mapping)]
    # The partner's reference, only when something reached the partner (a rejected order has a
    # PO number reserved but was never placed).
    placed = payload.get("supplier_order_id")
    ref = str((payload.get("po_number") if placed else "") or payload.get("work_order_id") or "")
    if moves:
        ref = ", ".join(f"{m.get('job_id')} → {m.get('to_machine')}" for m in moves)
    return ActionResult(
        workflow_id=workflow_id,
        run_id=run_id,
        ended=str(payload.get("status") or temporal_status),
        by=by,
        reason=reason[:500],
        ref=ref,
        time=time,
    )
