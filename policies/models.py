"""Models born in the Decide layer: typed actions, their autonomy, and the ``Decision`` record.

These are the contract between policies (who propose) and workflows (who carry out). Add fields
with defaults; do not rename or remove them without changing both sides.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Autonomy(StrEnum):
    SUGGEST = "suggest"  # recorded only
    APPROVE = "approve"  # human gate
    AUTO = "auto"  # carried out without a person


class Priority(StrEnum):
    P1 = "P1"  # now: safety or imminent failure
    P2 = "P2"  # this shift
    P3 = "P3"  # next planned window
    P4 = "P4"  # when convenient


class ApprovalRequirement(Frozen):
    """Who must sign off: any of ``roles``, ``min_approvers`` distinct people, above ``cost``."""

    roles: tuple[str, ...] = ("maintenance_lead",)
    min_approvers: int = Field(default=1, ge=1)
    tier: str = ""
    reason: str = ""  # why a person is needed ("above auto limit 500 EUR", "budget exhausted")


class ApprovalRule(Frozen):
    """What a policy asks for over a cost range, declared as data so a plant file can be checked
    at load (``orchestrator/preflight.py``): amounts above ``above`` up to ``up_to`` (``None``:
    no upper bound) need ``requirement`` on top of the plant's cost tier."""

    requirement: ApprovalRequirement
    above: float = Field(default=0.0, ge=0)
    up_to: float | None = Field(default=None, ge=0)


class PartLine(Frozen):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: float = Field(default=0.0, ge=0)
    description: str = ""


class ActionModel(Frozen):
    """What every proposed action is: a frozen model whose ``kind`` (a ``Literal`` default in
    each subclass) names it. Declare a subclass with ``@action_model`` so stored decisions that
    carry it can be read back; the workflow that carries it out is registered in ``workflows/``."""

    kind: str


A = TypeVar("A", bound=ActionModel)
_ACTION_MODELS: dict[str, type[ActionModel]] = {}


def action_model(cls: type[A]) -> type[A]:
    """Declare an action kind (class decorator): one ``kind`` string, one model."""
    kind = cls.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{cls.__name__}: an action model needs a default `kind`, e.g. kind: Literal['x'] = 'x'")
    known = _ACTION_MODELS.get(kind)
    if known is None:
        _ACTION_MODELS[kind] = cls
    elif (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(
            f"action kind {kind!r} is declared twice: {known.__module__}.{known.__qualname__} "
            f"and {cls.__module__}.{cls.__qualname__}"
        )
    # else: the same module imported again (the workflow sandbox does): the first class stays.
    return cls


def action_kinds() -> tuple[str, ...]:
    """Every declared action kind."""
    return tuple(_ACTION_MODELS)


def _parse_action(value: Any) -> Any:
    if isinstance(value, ActionModel):
        return value
    if isinstance(value, dict):
        kind = value.get("kind")
        model = _ACTION_MODELS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise ValueError(f"unknown action kind {kind!r}; declared kinds: {', '.join(_ACTION_MODELS)}")
        return model.model_validate(value)
    raise ValueError(f"an action is a mapping with a `kind`, not {type(value).__name__}")


@action_model
class OrderParts(ActionModel):
    kind: Literal["order_parts"] = "order_parts"
    supplier: str
    lines: tuple[PartLine, ...] = Field(min_length=1)
    currency: str = "EUR"
    need_by: datetime | None = None

    @property
    def total(self) -> float:
        return sum(line.quantity * line.unit_price for line in self.lines)

    def in_words(self) -> str:
        """"Order 1,188 × 42CrMo4 round bar, 40 mm, 3 m from steelco — 45,738.00 EUR"."""
        items = "; ".join(f"{line.quantity:,} × {line.description or line.sku}" for line in self.lines)
        return f"Order {items} from {self.supplier} — {self.total:,.2f} {self.currency}"


@action_model
class ScheduleMaintenance(ActionModel):
    kind: Literal["schedule_maintenance"] = "schedule_maintenance"
    asset_id: str
    task: str
    duration_h: float = Field(gt=0)
    priority: Priority = Priority.P3
    latest_start: datetime | None = None  # from the RUL: the job must start before this
    # from the parts: the job cannot start before the parts it orders can be here (None: in stock)
    earliest_start: datetime | None = None
    parts: tuple[PartLine, ...] = ()


@action_model
class CreateWorkOrder(ActionModel):
    kind: Literal["create_work_order"] = "create_work_order"
    asset_id: str
    priority: Priority
    title: str
    description: str = ""
    instrument_check: bool = False  # the sensor, not the machine, needs a look
    sensor: str | None = None


@action_model
class RerouteWork(ActionModel):
    kind: Literal["reroute_work"] = "reroute_work"
    from_asset: str
    capability: str | None = None  # required capability; None = the jobs' own requirements
    reason: str = ""


@action_model
class FlagForReview(ActionModel):
    kind: Literal["flag_for_review"] = "flag_for_review"
    subject: str
    asset_id: str | None = None
    detail: str = ""
    figures: dict[str, float] = Field(
        default_factory=dict
    )  # e.g. payback_years, excess_kwh_per_day


@action_model
class Notify(ActionModel):
    kind: Literal["notify"] = "notify"
    roles: tuple[str, ...] = ()
    message: str


#: Any declared action, read by its ``kind`` and written with all of its own fields. The built-in
#: kinds are above; a plant may declare more (``@action_model``) beside the policy that proposes them.
Action = Annotated[SerializeAsAny[ActionModel], BeforeValidator(_parse_action)]


class ProposedAction(Frozen):
    """An action a policy proposes, with its autonomy and the words a person reads."""

    action: Action
    autonomy: Autonomy
    approval: ApprovalRequirement | None = None
    asset_id: str | None = None
    dedup_key: str  # same ongoing problem -> same key -> one action
    estimated_cost: float = 0.0
    currency: str = "EUR"
    explanation: str
    evidence: dict[str, Any] = Field(default_factory=dict)


class DecisionOutcome(StrEnum):
    PROPOSED = "proposed"  # an action was proposed (see autonomy for what happens next)
    SHADOW = "shadow"  # would have proposed; shadow / backtest mode, nothing executed
    SUPPRESSED = "suppressed"  # condition held but a window, cool-down or duplicate held it back
    STALE_DATA = "stale_data"  # inputs too old or missing: explicitly not decided
    ERROR = "error"  # the policy raised; isolated, reported


class ActionResult(Frozen):
    """How what a decision started ended (one per workflow run), in words a person reads."""

    workflow_id: str
    run_id: str = ""
    ended: str  # completed | rejected | cancelled | failed | ... (the workflow's own final status)
    by: tuple[str, ...] = ()  # who signed (approved, or rejected) it
    reason: str = ""  # the rejection comment, the failure, or what the partner said
    ref: str = ""  # the partner's reference: PO number, CMMS work order
    time: datetime | None = None

    def summary(self) -> str:
        words = [self.ended]
        if self.by:
            words.append(f"by {', '.join(self.by)}")
        if self.ref:
            words.append(f"({self.ref})")
        if self.reason:
            words.append(f"— {self.reason}")
        return " ".join(words)


class Decision(Frozen):
    """One evaluation that proposed (or explicitly did not propose) something. Stored append-only."""

    decision_id: str
    time: datetime
    site: str = ""
    asset_id: str | None = None  # the asset the evaluation was about (None: site-wide)
    policy_id: str
    policy_version: str
    policy_source_hash: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: tuple[str, ...] = ()  # report ids (or other input ids) the policy saw
    input_values: dict[str, Any] = Field(default_factory=dict)  # the evidence values
    outcome: DecisionOutcome
    proposed: ProposedAction | None = None
    explanation: str
    trace_id: str | None = None
    workflow_id: str | None = None
    results: tuple[ActionResult, ...] = ()  # how what it started ended (merged in when read)
