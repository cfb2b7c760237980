"""What a policy is: a declaration (``Policy``), the context it sees and the cases it ships with.

A policy module declares one ``POLICY = Policy(...)``; its test cases live beside it in
``<module>_cases.py`` as ``CASES = [Case(...), ...]``. The engine (``policies/engine.py``) adds the
semantics every alerting system needs (for-durations, cool-downs, suppression, stale data,
budgets, precedence); the policy's ``evaluate`` only says what the reports call for right now.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import PolicyError
from agents.models import AssetKind, HealthReport
from policies.models import ApprovalRule, Autonomy, ProposedAction

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
_POLICY_ID = re.compile(r"^[a-z][a-z0-9-]*$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlannedWindow(Frozen):
    """A planned stop in the production schedule in which maintenance can be done."""

    start: datetime
    end: datetime
    asset_id: str | None = None  # None: the whole line / site stops
    label: str = ""

    def covers(self, asset_id: str) -> bool:
        return self.asset_id is None or self.asset_id == asset_id

    @property
    def duration_h(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


class Suppression(Frozen):
    """A silence: no actions for ``asset_id`` (None: whole site) between start and end."""

    start: datetime
    end: datetime
    asset_id: str | None = None
    reason: str  # "planned shutdown", "asset under maintenance (WO-17)"

    def active(self, asset_id: str | None, now: datetime) -> bool:
        hits_asset = self.asset_id is None or self.asset_id == asset_id
        return hits_asset and self.start <= now < self.end


class CatalogItem(Frozen):
    """What buying one SKU costs and takes: for reorder quantities and cost limits."""

    sku: str
    supplier: str
    unit_price: float = Field(ge=0)
    lead_time_days: float = Field(default=7.0, ge=0)
    order_cost: float = Field(default=50.0, ge=0)  # fixed cost per order (EOQ's S)
    holding_rate: float = Field(
        default=0.25, gt=0
    )  # yearly holding cost as a share of price (EOQ's H/p)
    min_order_qty: int = Field(default=1, ge=1)
    description: str = ""


class MachineInfo(Frozen):
    """What production knows about a machine: is it a bottleneck, what is queued, who can take over."""

    asset_id: str
    bottleneck: bool = False
    queued_jobs: int = Field(default=0, ge=0)
    capabilities: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()  # machines with the same capability
    line: str = ""


class PolicyContext(Frozen):
    """Everything besides health reports that a policy may look at. ``now`` is injected."""

    now: datetime
    site: str = ""
    planned_windows: tuple[PlannedWindow, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    stock: dict[str, float] = Field(default_factory=dict)  # sku -> units on hand (free)
    catalog: dict[str, CatalogItem] = Field(default_factory=dict)
    machines: dict[str, MachineInfo] = Field(default_factory=dict)
    open_keys: frozenset[str] = frozenset()  # dedup keys of workflows already running
    expected_assets: dict[str, AssetKind] = Field(default_factory=dict)  # silent ones are "missing"
    # Set by the engine per policy: dedup keys of problems that fired and have not cleared yet.
    active_keys: frozenset[str] = frozenset()

    def is_active(self, key: str) -> bool:
        return key in self.active_keys

    def exceeds(self, key: str, value: float | None, fire_at: float, clear_at: float) -> bool:
        """Hysteresis: fires above ``fire_at``; once fired, holds until the value drops below ``clear_at``."""
        if value is None or value != value:  # None / NaN: no evidence either way, so not held
            return False
        return value >= (clear_at if self.is_active(key) else fire_at)

    def falls_below(self, key: str, value: float | None, fire_at: float, clear_at: float) -> bool:
        """Hysteresis for low values: fires below ``fire_at``; holds until the value rises above ``clear_at``."""
        if value is None or value != value:
            return False
        return value <= (clear_at if self.is_active(key) else fire_at)

    def next_window(
        self,
        asset_id: str,
        *,
        min_hours: float,
        not_after: datetime | None = None,
        not_before: datetime | None = None,
    ) -> PlannedWindow | None:
        """Earliest planned window from now covering the asset, long enough, starting by
        ``not_after`` and not before ``not_before`` (e.g. when the parts can be here)."""
        fitting = [
            w
            for w in self.planned_windows
            if w.covers(asset_id)
            and w.start >= self.now
            and (not_before is None or w.start >= not_before)
            and w.duration_h >= min_hours
            and (not_after is None or w.start <= not_after)
        ]
        return min(fitting, key=lambda w: (w.start, w.end), default=None)


Evaluate = Callable[[Sequence[HealthReport], PolicyContext, Any], list[ProposedAction]]


def _check_evaluate(policy_id: str, evaluate: object) -> None:
    """``evaluate`` is a function taking ``(reports, ctx, params)``: checked when declared, not
    at the first report hours later."""
    if not callable(evaluate):
        raise PolicyError(
            f"policy {policy_id!r}: evaluate must be a function evaluate(reports, ctx, params), "
            f"got {type(evaluate).__name__} {evaluate!r:.40}"
        )
    try:
        signature = inspect.signature(evaluate)
    except (TypeError, ValueError):
        return  # some builtins have no signature to inspect; nothing to check
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise PolicyError(
            f"policy {policy_id!r}: evaluate must take three arguments (reports, ctx, params), "
            f"its signature is {signature}"
        ) from None


@dataclass(frozen=True)
class Policy:
    """One policy's declaration. Timings are engine semantics; ``evaluate`` is the policy's logic.

    ``evaluate(reports, ctx, params)`` gets the reports of ONE asset (newest last), the context and
    the asset's resolved parameters, and returns the actions the reports call for right now.
    ``precedence`` ranks policies that propose for the same asset in the same ``conflict_group``
    (lower number wins; Prometheus-style inhibition). Policies in different groups never rank.

    The engine evaluates a policy on an asset again only when its answer may change: a new
    report, a change of the context's plant parts (stock, catalog, machines, planned windows,
    suppressions, expected assets), or a problem of the pair pending, firing or cooling down.
    A policy whose ``evaluate`` decides *whether* to propose from ``ctx.now`` or
    ``ctx.open_keys`` sets ``every_step`` and is evaluated on every step.
    """

    id: str
    version: str
    owner: str
    description: str
    params: type[BaseModel]
    evaluate: Evaluate
    autonomy: Autonomy = Autonomy.SUGGEST  # what its actions usually carry (`policy list`)
    asset_kinds: tuple[AssetKind, ...] = (AssetKind.MACHINE,)
    for_duration: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(0)
    stale_after: timedelta = timedelta(hours=1)
    clear_after: timedelta = timedelta(0)  # a fired problem clears after this long unproposed
    precedence: int = 50
    conflict_group: str = ""
    # params -> what the policy's actions may ask approvers for, by cost (checked at load)
    approval_rules: Callable[[Any], Sequence[ApprovalRule]] | None = None
    every_step: bool = False  # evaluated on every step even on an unchanged report and context

    def __post_init__(self) -> None:
        if not _POLICY_ID.match(self.id):
            raise PolicyError(
                f"policy id {self.id!r} is not valid: use lower case letters, digits and '-'"
            )
        if not _SEMVER.match(self.version):
            raise PolicyError(
                f"policy {self.id!r}: version {self.version!r} is not semantic versioning; "
                'write it as MAJOR.MINOR.PATCH, e.g. "1.2.0"'
            )
        if not self.owner.strip():
            raise PolicyError(
                f"policy {self.id!r}: owner is empty; name the team that answers for it"
            )
        _check_evaluate(self.id, self.evaluate)
        if not (isinstance(self.params, type) and issubclass(self.params, BaseModel)):
            raise PolicyError(f"policy {self.id!r}: params must be a pydantic model class")
        try:
            self.params()
        except ValidationError as exc:
            raise PolicyError(
                f"policy {self.id!r}: every parameter needs a default ({exc.error_count()} missing)"
            ) from exc
        if min(self.for_duration, self.cooldown, self.clear_after) < timedelta(0):
            raise PolicyError(
                f"policy {self.id!r}: for_duration, cooldown and clear_after must not be negative"
            )

    def resolve_params(
        self, overrides: Mapping[str, Any] | None, asset_id: str | None = None, line: str = ""
    ) -> BaseModel:
        """Defaults, then policy-wide overrides, then ``line:<line>``, then ``asset:<id>`` ones."""
        merged: dict[str, Any] = {}
        overrides = overrides or {}
        merged.update({k: v for k, v in overrides.items() if ":" not in k})
        for scoped in (f"line:{line}" if line else "", f"asset:{asset_id}" if asset_id else ""):
            if scoped and isinstance(overrides.get(scoped), Mapping):
                merged.update(overrides[scoped])
        try:
            return self.params(**merged)
        except ValidationError as exc:
            raise PolicyError(
                f"policy {self.id!r}: parameter overrides for asset {asset_id!r} do not validate: "
                f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}; fix policies.parameters in "
                "the plant configuration"
            ) from exc


def source_hash(source: str | bytes) -> str:
    """sha256 of a policy module's source: which exact code made a decision."""
    data = source.encode() if isinstance(source, str) else source
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Case:
    """One test case beside a policy: these reports and this context must (not) fire.

    ``expect`` is ``"fires"`` or ``"silent"``. For firing cases, ``kinds`` lists action kinds that
    must all be proposed, ``autonomy`` (if set) the autonomy every proposal must carry, and
    ``forbidden_kinds`` kinds that must not appear (e.g. a sensor fault must never yield a machine
    action).
    """

    name: str
    reports: Sequence[HealthReport]
    ctx: PolicyContext
    expect: Literal["fires", "silent"]
    kinds: tuple[str, ...] = ()
    forbidden_kinds: tuple[str, ...] = ()
    autonomy: Autonomy | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    where: str = field(default="", compare=False)  # "file:line" of the case, filled in when made

    def __post_init__(self) -> None:
        if not self.where:
            # The caller of the generated __init__ wrote the case: point failures at that line.
            frame = sys._getframe(2)
            object.__setattr__(self, "where", f"{frame.f_code.co_filename}:{frame.f_lineno}")


def threshold(
    name: str, value: float | None, limit: float, op: Literal[">=", "<=", ">", "<"], unit: str = ""
) -> dict[str, Any]:
    """One threshold a decision crossed, as evidence ``autoops decisions explain`` can print."""
    return {"name": name, "value": value, "op": op, "limit": limit, "unit": unit}
