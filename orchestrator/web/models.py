"""What the web UI shows and the JSON API returns. The backend (Temporal, Ray, decision log) fills them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.models import MAX_COMMENT_CHARS


class View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Vote(View):
    user: str
    role: str
    approve: bool
    comment: str = ""
    time: datetime | None = None


class Series(View):
    """A health indicator over time, with its thresholds and the RUL interval, for the evidence plot."""

    name: str
    unit: str = ""
    times: tuple[datetime, ...] = ()
    values: tuple[float, ...] = ()
    amber_at: float | None = None
    red_at: float | None = None
    rul_h: float | None = None
    rul_lower_h: float | None = None
    rul_upper_h: float | None = None


class ApprovalItem(View):
    """A pending approval with everything an approver needs to decide."""

    id: str  # the workflow id
    kind: str  # part_order | maintenance | reroute
    title: str
    site: str = ""
    asset_id: str | None = None
    requested_by: str = "autoops"
    requested_at: datetime | None = None
    deadline: datetime | None = None
    priority: str = ""
    amount: float = 0.0
    currency: str = "EUR"
    roles: tuple[str, ...] = ()
    min_approvers: int = 1
    votes: tuple[Vote, ...] = ()
    state: str = "pending"
    tier: str = ""
    policy_id: str = ""
    policy_version: str = ""
    decision_id: str = ""
    explanation: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    window: str = ""  # planned window, in words
    creates: str = ""  # what it will create outside: "PO-... to ACME Bearings: 4 x BK-6205"
    reason: str = ""  # why it escalated (e.g. no declared people can complete it as asked)
    series: Series | None = None
    trace_id: str | None = None


class AssetTile(View):
    asset_id: str
    name: str = ""
    kind: str = "machine"
    line: str = ""
    status: str = "unknown"
    main_indicator: str = ""
    main_value: str = ""
    summary: str = ""
    sensor_faults: tuple[str, ...] = ()
    last_report_at: datetime | None = None
    open_workflows: tuple[str, ...] = ()


class PlannedStop(View):
    start: datetime
    end: datetime
    label: str = ""


class AssetView(View):
    """One asset on the floor: its health over days, what is planned on it, what is open."""

    tile: AssetTile
    days: float = 0.0  # how many days the history covers
    history: tuple[Series, ...] = ()  # its main indicators over the stored history
    next_stops: tuple[PlannedStop, ...] = ()  # the next planned windows (breaks, maintenance)
    schedule_error: str = ""  # why the MES could not be asked, when it could not


class TimelineEntry(View):
    time: datetime | None = None
    kind: str  # decision | approval | request | response | callback | state
    text: str
    actor: str = ""


class RunRef(View):
    """One run of a business id (a later bar order reuses the id of the earlier one)."""

    run_id: str
    started: datetime | None = None
    status: str = ""


class WorkflowView(View):
    id: str
    run_id: str = ""  # the run shown; every run of the id is its own record
    kind: str = ""
    status: str = ""
    decision_id: str = ""
    trace_id: str | None = None
    temporal_url: str = ""
    amount: float | None = None  # what this run asked approval for
    currency: str = ""
    approval: str = ""  # its approval state
    result: str = ""  # how it ended, in words ("rejected by ben — price too high")
    window: str = ""  # a maintenance job's window as it stands (the one its work order carries)
    window_moved: str = ""  # why it is not the window approved ("moved from …: the parts arrived …")
    runs: tuple[RunRef, ...] = ()  # every run of this id, newest first
    timeline: tuple[TimelineEntry, ...] = ()


class ResultRow(View):
    """How one workflow run a decision started ended ("rejected by ben — price too high")."""

    run_id: str
    ended: str
    summary: str


class DecisionRow(View):
    decision_id: str
    time: datetime
    policy_id: str
    policy_version: str
    asset_id: str | None = None
    outcome: str
    explanation: str
    workflow_id: str | None = None
    trace_id: str | None = None
    results: tuple[ResultRow, ...] = ()  # final outcome of what it started; empty while it runs


class ActRequest(View):
    # Longer is refused with 422 before anything reaches Temporal (its payload limit is 2 MB).
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)


class ActResult(View):
    ok: bool
    message: str
    state: str = ""
