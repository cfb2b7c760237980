"""Models born in the Act layer: workflow inputs, results, signal payloads and the approval gate.

Every model crosses the Temporal boundary (pydantic data converter), so they are frozen, refuse
unknown fields and use only stdlib types plus the action models from ``policies.models``.
This module must stay importable inside the workflow sandbox: no httpx, numpy or ray here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from policies.models import (
    ApprovalRequirement,
    Autonomy,
    CreateWorkOrder,
    FlagForReview,
    OrderParts,
    PartLine,
    RerouteWork,
    ScheduleMaintenance,
)
from workflows.clock import WALL, PlantClock

TASK_QUEUE = "autoops"
#: The longest comment a person may attach to a vote, a cancellation or an attention answer. Every
#: accepted Update is kept in the workflow's history, and Temporal refuses payloads over 2 MB by
#: failing the workflow task again and again; the web API, the CLI and the Update validators all
#: refuse longer comments up front with this limit.
MAX_COMMENT_CHARS = 4000


def comment_too_long(comment: str, what: str = "comment") -> str | None:
    """Why ``comment`` may not be sent (too long), in words for the person; ``None`` if it may."""
    if len(comment) <= MAX_COMMENT_CHARS:
        return None
    return (
        f"the {what} is {len(comment):,} characters; at most {MAX_COMMENT_CHARS:,} are accepted: "
        "shorten it (attach long notes to the work order instead)"
    )
APPROVAL_STATE_ATTRIBUTE = "ApprovalState"  # Keyword search attribute, registered on the server


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- approval gate


class ApprovalState(StrEnum):
    """Value of the ``ApprovalState`` search attribute; ``pending``/``escalated``/``attention``
    are the states a person has to act on."""

    NOT_REQUIRED = "not_required"
    PENDING = "pending"
    ESCALATED = "escalated"  # deadline passed: more people may sign, still waiting
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ATTENTION = "attention"  # a partner refused a call: a person must decide what to do
    REVIEW = "review"  # a flagged asset waits for a person of its owning role to look and close it
    CLOSED = "closed"  # the review was closed by that person, with a comment


WAITING_STATES = (ApprovalState.PENDING, ApprovalState.ESCALATED, ApprovalState.ATTENTION, ApprovalState.REVIEW)


class ApprovalTier(Frozen):
    """Who signs above ``above`` (amount, request currency): any ``min_approvers`` distinct people
    holding one of ``roles``. ``deadline_s`` is how long the tier waits before escalating."""

    name: str
    above: float = Field(default=0.0, ge=0)
    roles: tuple[str, ...] = Field(min_length=1)
    min_approvers: int = Field(default=1, ge=1)
    deadline_s: float = Field(default=8 * 3600.0, gt=0)


class Approver(Frozen):
    """A declared person who may sign: their roles and the largest amount they may approve."""

    name: str
    roles: tuple[str, ...]
    limit: float = Field(default=0.0, ge=0)


#: Who owns an asset the plant file does not name (machines are the maintenance lead's).
DEFAULT_OWNER = "maintenance_lead"


class ApprovalPolicy(Frozen):
    """The approval rules a workflow is started with (from the plant configuration)."""

    auto_approve_limit: float = Field(default=0.0, ge=0)  # at or below: no person needed (auto only)
    tiers: tuple[ApprovalTier, ...] = (
        ApprovalTier(name="lead", roles=("maintenance_lead", "buyer")),
        ApprovalTier(name="manager", above=5000.0, roles=("plant_manager",), min_approvers=1),
    )
    role_limits: dict[str, float] = Field(default_factory=dict)  # role -> largest amount it may approve
    # The declared people who may sign (from ``[[users]]``); empty: unknown, and only the roles'
    # limits are checked when the gate opens (see workflows/signers.py).
    approvers: tuple[Approver, ...] = ()
    # Remind the approvers this long before each tier's deadline (seconds; reminders longer than
    # the deadline itself are skipped). Empty: no reminders.
    remind_before_s: tuple[PositiveFloat, ...] = (3600.0,)
    # Asset id -> the role that owns it (``[owners]`` of the plant file): who a review of the
    # asset goes to. Empty: unknown, and a review goes to ``DEFAULT_OWNER``.
    owners: dict[str, str] = Field(default_factory=dict)

    def owner_of(self, asset_id: str | None) -> str:
        """The role that owns ``asset_id`` (``DEFAULT_OWNER`` when the plant does not say)."""
        return self.owners.get(asset_id or "", DEFAULT_OWNER)

    def tier_index_for(self, amount: float) -> int:
        """Index of the tier that applies to ``amount``: the last one whose ``above`` it exceeds."""
        index = 0
        for i, tier in enumerate(self.tiers):
            if amount > tier.above:
                index = i
        return index


class ApprovalContext(Frozen):
    """What an approver needs to see to decide (shown by the web inbox and the CLI)."""

    kind: str = ""  # part_order | maintenance | reroute | work_order | review
    site: str = ""
    asset_id: str | None = None
    priority: str = ""
    decision_id: str = ""
    explanation: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    creates: str = ""  # what approving creates outside, in words ("PO-… to ACME: 4 x BRG-6205")
    window: str = ""  # the planned window, in words (the current one, if it moved)
    window_moved: str = ""  # why the window is not the one approved ("moved from …: the kit arrives …")


class ApprovalRequest(Frozen):
    subject: str
    requested_by: str  # the policy / person that asked; may not approve (separation of duties)
    amount: float = Field(default=0.0, ge=0)
    currency: str = "EUR"
    policy: ApprovalPolicy = ApprovalPolicy()
    requirement: ApprovalRequirement | None = None  # what the policy asked for, narrows the roles
    context: ApprovalContext = ApprovalContext()


class ApprovalVote(Frozen):
    """The Update payload; identity and role are authenticated by the caller (web API / CLI)."""

    user: str = Field(min_length=1)
    role: str = Field(min_length=1)
    approve: bool
    comment: str = ""
    # The approver's own limit from the plant configuration (set by the web API / CLI that
    # authenticated them); the validator refuses amounts above it as well as above the role's.
    limit: float | None = Field(default=None, ge=0)


class RecordedVote(Frozen):
    user: str
    role: str
    approve: bool
    comment: str
    at: datetime


class Escalation(Frozen):
    at: datetime
    from_tier: str
    to_tier: str
    roles: tuple[str, ...]  # who may sign from now on
    reason: str


class ApprovalStatus(Frozen):
    state: ApprovalState
    subject: str = ""
    amount: float = 0.0
    currency: str = "EUR"
    requested_by: str = ""
    tier: str = ""
    roles: tuple[str, ...] = ()
    min_approvers: int = 1
    votes: tuple[RecordedVote, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    reason: str = ""  # why it ended this way (rejection / cancellation comment, partner error)
    context: ApprovalContext = ApprovalContext()
    opened_at: datetime | None = None
    deadline: datetime | None = None  # when it escalates next (None: not waiting, or no tier left)


class CancelRequest(Frozen):
    user: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class AttentionDecision(Frozen):
    """A person's answer to an ``attention`` state: try the call again, or give up."""

    user: str = Field(min_length=1)
    retry: bool
    comment: str = Field(min_length=1)
    role: str = ""  # the role the person answers in; must be one the attention was sent to


class ReviewClosing(Frozen):
    """A person closes a review: who, in which of the review's roles, and what they found or did."""

    user: str = Field(min_length=1)
    role: str = Field(min_length=1)
    comment: str = Field(min_length=1)


class NotificationKind(StrEnum):
    """Why people are told something; routes and digests may treat kinds differently."""

    APPROVAL_REQUESTED = "approval_requested"
    REMINDER = "reminder"  # an approval's deadline is near
    ESCALATED = "escalated"
    ATTENTION = "attention"  # a partner refused or failed: a person must decide
    INFO = "info"


class Notification(Frozen):
    """What a workflow tells people. ``(workflow_id, run_id, event)`` names it once per run, so
    the sender can keep it from going out twice to the same recipient when the activity retries."""

    workflow_id: str
    roles: tuple[str, ...]
    subject: str
    message: str
    run_id: str = ""
    event: str = ""  # unique within the run ("3:approval_requested"); empty: the activity's own id
    kind: NotificationKind = NotificationKind.INFO
    priority: str = ""  # P1..P4 when the action has one
    asset_id: str | None = None
    link_path: str = ""  # where the item opens in the web UI ("/approvals/<workflow id>")
    deadline: datetime | None = None


# --------------------------------------------------------------------------- callbacks (signals)


class SupplierConfirmation(Frozen):
    po_number: str
    accepted: bool = True
    supplier_order_id: str = ""
    comment: str = ""


class ShipNotice(Frozen):
    po_number: str
    shipment_id: str = ""
    carrier: str = ""
    tracking: str = ""


class WorkOrderCompletion(Frozen):
    external_ref: str
    work_order_id: str = ""
    status: str = "completed"
    notes: str = ""
    # The technician's finding (Learn): True fault confirmed, False no fault found, None unknown.
    fault_confirmed: bool | None = None


class HealthConfirmation(Frozen):
    asset_id: str
    healthy: bool
    detail: str = ""


# --------------------------------------------------------------------------- part order


class PartnerRetry(Frozen):
    """How partner calls are retried (timeouts, 5xx, 429) before a person is asked to look."""

    timeout_s: float = Field(default=30.0, gt=0)
    initial_interval_s: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1)
    max_interval_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)




class PartOrderStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    ORDERING = "ordering"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_SHIPMENT = "awaiting_shipment"
    RECEIVING = "receiving"
    RECEIVED = "received"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # the supplier refused and a person gave up


class PartOrderInput(Frozen):
    site: str
    order: OrderParts
    autonomy: Autonomy = Autonomy.APPROVE
    approval: ApprovalPolicy = ApprovalPolicy()
    requirement: ApprovalRequirement | None = None
    requested_by: str = "autoops"
    decision_id: str = ""
    explanation: str = ""
    asset_id: str | None = None  # the asset the parts are for, when known
    evidence: dict[str, Any] = Field(default_factory=dict)
    confirmation_timeout_s: float = Field(default=2 * 86400.0, gt=0)
    retry: PartnerRetry = PartnerRetry()
    # The deployment's one clock: its timeouts and windows are in plant time (workflows/clock.py).
    clock: PlantClock = WALL


class PartOrderResult(Frozen):
    po_number: str
    status: PartOrderStatus
    total: float
    currency: str
    supplier_order_id: str = ""
    shipment_id: str = ""
    approval: ApprovalStatus
    decision_id: str = ""


# --------------------------------------------------------------------------- maintenance


class MaintenanceStatus(StrEnum):
    CLOSED = "closed"  # done and the asset reports healthy
    CLOSED_UNVERIFIED = "closed_unverified"  # done, health not confirmed in time: a person is told
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


class Window(Frozen):
    start: datetime
    end: datetime
    name: str = ""

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


class MaintenanceInput(Frozen):
    site: str
    action: ScheduleMaintenance
    autonomy: Autonomy = Autonomy.APPROVE
    approval: ApprovalPolicy = ApprovalPolicy()
    requirement: ApprovalRequirement | None = None
    estimated_cost: float = 0.0
    currency: str = "EUR"
    requested_by: str = "autoops"
    decision_id: str = ""
    explanation: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    supplier: str = ""  # who to order missing parts from
    completion_timeout_s: float = Field(default=14 * 86400.0, gt=0)
    health_timeout_s: float = Field(default=3600.0, gt=0)  # then closed "unverified", people told
    health_poll_s: float = Field(default=30.0, gt=0)  # how often the health source is asked again
    horizon_days: float = Field(default=14.0, gt=0)  # how far ahead to look for a window
    retry: PartnerRetry = PartnerRetry()
    # The deployment's one clock: its timeouts and windows are in plant time (workflows/clock.py).
    clock: PlantClock = WALL


class MaintenanceResult(Frozen):
    workflow_id: str
    status: MaintenanceStatus
    window: Window | None = None
    work_order_id: str = ""
    child_orders: tuple[str, ...] = ()
    approval: ApprovalStatus
    reason: str = ""
    decision_id: str = ""


class StockCheck(Frozen):
    reserved: tuple[PartLine, ...] = ()
    missing: tuple[PartLine, ...] = ()


# --------------------------------------------------------------------------- reroute


class JobMove(Frozen):
    job_id: str
    from_machine: str
    to_machine: str
    delay_h: float = 0.0


class RerouteStatus(StrEnum):
    RESTORED = "restored"  # jobs back / constraint released after repair
    NOTHING_TO_MOVE = "nothing_to_move"
    CANCELLED = "cancelled"


class RerouteInput(Frozen):
    site: str
    action: RerouteWork
    decision_id: str = ""
    move_back: bool = True  # after repair: move jobs back (True) or leave them, only release
    repair_timeout_s: float = Field(default=14 * 86400.0, gt=0)
    retry: PartnerRetry = PartnerRetry()
    # The deployment's one clock: its timeouts and windows are in plant time (workflows/clock.py).
    clock: PlantClock = WALL


class RerouteResult(Frozen):
    workflow_id: str
    status: RerouteStatus
    moves: tuple[JobMove, ...] = ()
    unplaced: tuple[str, ...] = ()  # jobs no capable machine could take
    moved_back: tuple[str, ...] = ()
    decision_id: str = ""


class RepairDone(Frozen):
    asset_id: str
    by: str = ""
    kind: Literal["repair_done"] = "repair_done"


# --------------------------------------------------------------------------- workflow ids


def _key(part: str) -> str:
    # Temporal ids allow almost anything; keep ours readable and free of the separator.
    return part.strip().replace(":", "_").replace(" ", "_").replace("/", "_").replace("~", "_")


def part_order_id(site: str, sku: str, n: int | str) -> str:
    return f"po:{_key(site)}:{_key(sku)}:{_key(str(n))}"


def maintenance_id(site: str, asset_id: str) -> str:
    return f"maint:{_key(site)}:{_key(asset_id)}"


def reroute_id(site: str, asset_id: str) -> str:
    return f"reroute:{_key(site)}:{_key(asset_id)}"


def run_tag(run_id: str) -> str:
    """A short tag that tells runs of one workflow id apart. Temporal's run ids are UUIDv7, whose
    leading digits are a timestamp (two runs a minute apart share them): take the random end."""
    return run_id.replace("-", "")[-8:]


def po_number_for(workflow_id: str, run_id: str = "") -> str:
    """The PO number of a part-order run: a pure function of its workflow id and run id, so every
    retry, replay and restarted worker sends the same number (the supplier's idempotency key),
    while a later order for the same problem key (a new run after the first closed) gets its own."""
    number = "PO-" + workflow_id.removeprefix("po:")
    return f"{number}~{run_tag(run_id)}" if run_id else number


def work_order_ref(workflow_id: str, run_id: str) -> str:
    """Our ``external_ref`` for a CMMS work order: the workflow id and its run, so the CMMS's
    idempotency holds within a run (retries, restarted workers) while the same problem coming
    back later (a new run under the same business key) opens a new work order."""
    return f"{workflow_id}~{run_tag(run_id)}" if run_id else workflow_id


def workflow_id_for_ref(external_ref: str) -> str:
    """The workflow behind a CMMS ``external_ref`` (inverse of ``work_order_ref``)."""
    return external_ref.split("~", 1)[0]


def part_order_id_for_po(po_number: str) -> str:
    """The workflow id behind a PO number (inverse of ``po_number_for``): callbacks carry only the PO."""
    return "po:" + po_number.removeprefix("PO-").split("~", 1)[0]


# --------------------------------------------------------------------------- activity payloads


class PlaceOrderRequest(Frozen):
    po_number: str
    site: str
    order: OrderParts


class PlacedOrder(Frozen):
    po_number: str
    supplier_order_id: str
    status: str
    created: bool


class StockReceipt(Frozen):
    ref: str  # the PO number: one receipt per PO
    lines: tuple[PartLine, ...]


class ReserveRequest(Frozen):
    ref: str  # the maintenance job (workflow id ~ run tag): one reservation per job
    lines: tuple[PartLine, ...]


class PartsUsed(Frozen):
    """A finished job's parts leave the stock: its reservation and what was ordered for it."""

    ref: str  # the same job reference as its reservation: booked once per job
    lines: tuple[PartLine, ...]


class ScheduleQuery(Frozen):
    asset_id: str
    start: datetime
    end: datetime


class WorkOrderSpec(Frozen):
    external_ref: str
    action: ScheduleMaintenance
    window: Window
    description: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)


class CreatedWorkOrder(Frozen):
    work_order_id: str
    created: bool
    status: str


class PlannedJob(Frozen):
    """A queued job as the reroute workflow sees it (capabilities it needs, its length)."""

    job_id: str
    asset_id: str
    required_capabilities: tuple[str, ...]
    duration_h: float
    sequence: int


class MachineLoad(Frozen):
    """A machine, its capabilities and how many hours of work are queued on it."""

    asset_id: str
    capabilities: tuple[str, ...]
    queued_h: float
    constrained: bool = False


class RerouteSituation(Frozen):
    jobs: tuple[PlannedJob, ...]
    machines: tuple[MachineLoad, ...]


class MoveOrder(Frozen):
    job_id: str
    to_asset: str
    idempotency_key: str


class ConstraintChange(Frozen):
    asset_id: str
    reason: str = ""


# --------------------------------------------------------------------------- work order


class WorkOrderStatus(StrEnum):
    OPENING = "opening"
    OPEN = "open"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"


class WorkOrderInput(Frozen):
    """A CMMS work order for hands at the machine (instrument check, P1 vibration work order)."""

    site: str
    action: CreateWorkOrder
    autonomy: Autonomy = Autonomy.AUTO
    approval: ApprovalPolicy = ApprovalPolicy()
    requirement: ApprovalRequirement | None = None
    estimated_cost: float = 0.0
    currency: str = "EUR"
    requested_by: str = "autoops"
    decision_id: str = ""
    explanation: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    completion_timeout_s: float = Field(default=7 * 86400.0, gt=0)
    retry: PartnerRetry = PartnerRetry()
    # The deployment's one clock: its timeouts and windows are in plant time (workflows/clock.py).
    clock: PlantClock = WALL


class WorkOrderResult(Frozen):
    status: WorkOrderStatus
    work_order_id: str = ""
    decision_id: str = ""
    approval: ApprovalStatus
    reason: str = ""
    notes: str = ""


def work_order_id(site: str, dedup_key: str) -> str:
    """``wo:<site>:<asset>:<problem>``: the policy's dedup key already names asset and problem."""
    rest = dedup_key.removeprefix("wo:").removeprefix(f"{site}:")
    return ":".join(["wo", _key(site), *(_key(part) for part in rest.split(":") if part)])


# --------------------------------------------------------------------------- review


class ReviewInput(Frozen):
    """A flagged asset put before the role that owns it (``FlagForReview``)."""

    site: str
    action: FlagForReview
    owner_role: str = Field(min_length=1)
    requested_by: str = "autoops"
    decision_id: str = ""
    explanation: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    approval: ApprovalPolicy = ApprovalPolicy()
    # The deployment's one clock: when the review was opened and closed (workflows/clock.py).
    clock: PlantClock = WALL


class ReviewResult(Frozen):
    status: Literal["closed"] = "closed"
    decision_id: str = ""
    approval: ApprovalStatus
    reason: str = ""  # the closing comment


def review_id(site: str, asset_id: str | None, problem: str) -> str:
    """``review:<site>:<asset>:<problem>``: one open review per flagged problem."""
    return ":".join(["review", _key(site), _key(asset_id or "site"), _key(problem)])
