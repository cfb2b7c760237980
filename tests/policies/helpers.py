"""Helpers for policy tests: small policies written inline, fed to the real engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from agents.models import HealthReport, Status
from policies.base import Policy, PolicyContext
from policies.engine import LoadedPolicy
from policies.models import Autonomy, CreateWorkOrder, OrderParts, PartLine, Priority, ProposedAction
from policies.testing import T0, report


class NoParams(BaseModel):
    pass


def make_policy(evaluate: Callable[..., list[ProposedAction]], *, pid: str = "test-policy",
                params: type[BaseModel] = NoParams, **kw: Any) -> LoadedPolicy:
    policy = Policy(id=pid, version="1.0.0", owner="tests", description="inline test policy",
                    params=params, evaluate=evaluate, **kw)
    return LoadedPolicy(policy=policy, source_hash="0" * 64, path="")


def work_order(asset: str, key: str, autonomy: Autonomy = Autonomy.AUTO) -> ProposedAction:
    return ProposedAction(
        action=CreateWorkOrder(asset_id=asset, priority=Priority.P2, title=f"look at {asset}"),
        autonomy=autonomy, asset_id=asset, dedup_key=key, explanation=f"{asset} needs a look",
        evidence={"value": 1.0})


def order(asset: str, key: str, cost: float) -> ProposedAction:
    return ProposedAction(
        action=OrderParts(supplier="s", lines=(PartLine(sku=key, quantity=1, unit_price=cost),)),
        autonomy=Autonomy.AUTO, asset_id=asset, dedup_key=key, estimated_cost=cost,
        explanation=f"order {key} for {cost}")


def vib(asset: str, minutes: float, value: float, status: Status = Status.AMBER, seq: int = 0) -> HealthReport:
    return report(asset, time=T0 + timedelta(minutes=minutes), status=status,
                  indicators={"velocity_rms": (value, "mm/s")}, seq=seq)


def ctx_at(minutes: float, **kw: Any) -> PolicyContext:
    return PolicyContext(now=T0 + timedelta(minutes=minutes), site="plant-a", **kw)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def threshold_policy(fire: float = 7.0, clear: float = 5.0, **kw: Any) -> LoadedPolicy:
    """A policy: velocity above ``fire`` (clears below ``clear``) proposes a work order."""

    def evaluate(reports: Sequence[HealthReport], ctx: PolicyContext, p: Any) -> list[ProposedAction]:
        r = reports[-1]
        key = f"wo:{r.asset_id}"
        v = r.indicator("velocity_rms")
        if v is None or not ctx.exceeds(key, v.value, fire, clear):
            return []
        return [work_order(r.asset_id, key)]

    return make_policy(evaluate, **kw)
