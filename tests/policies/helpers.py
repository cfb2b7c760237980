"""Helpers for policy tests: small policies written inline, fed to the real engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents.models import HealthReport, Status
from policies.base import Policy, PolicyContext
from policies.engine import LoadedPolicy
from policies.models import (
    Autonomy,
    CreateWorkOrder,
    OrderParts,
    PartLine,
    Priority,
    ProposedAction,
)
from policies.testing import T0, report


class NoParams(BaseModel):
    pass


def make_policy(
    evaluate: Callable[..., list[ProposedAction]],
    *,
    pid: str = "test-policy",
    params: type[BaseModel] = NoParams,
    **kw: Any,
) -> LoadedPolicy:
    policy = Policy(
        id=pid,
        version="1.0.0",
        owner="tests",
        description="inline test policy",
        params=params,
        evaluate=evaluate,
        **kw,
    )
    return LoadedPolicy(policy=policy, source_hash="0" * 64, path="")


def work_order(asset: str, key: str, autonomy: Autonomy = Autonomy.AUTO) -> ProposedAction:
    return ProposedAction(
        action=CreateWorkOrder(asset_id=asset, priority=Priority.P2, title=f"look at {asset}"),
        autonomy=autonomy,
        asset_id=asset,
        dedup_key=key,
        explanation=f"{asset} needs a look",
        evidence={"value": 1.0},
    )


def order(asset: str, key: str, cost: float) -> ProposedAction:
    return ProposedAction(
        action=OrderParts(supplier="s", lines=(PartLine(sku=key, quantity=1, unit_price=cost),)),
        autonomy=Autonomy.AUTO,
        asset_id=asset,
        dedup_key=key,
        estimated_cost=cost,
        explanation=f"order {key} for {cost}",
    )


def vib(
    asset: str, minutes: float, value: float, status: Status = Status.AMBER, seq: int = 0
) -> HealthReport:
    return report(
        asset,
        time=T0 + timedelta(minutes=minutes),
        status=status,
        indicators={"velocity_rms": (value, "mm/s")},
        seq=seq,
    )


def ctx_at(minutes: float, **kw: Any) -> PolicyContext:
    return PolicyContext(now=T0 + timedelta(minutes=minutes), site="plant-a", **kw)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def threshold_policy(fire: float = 7.0, clear: float = 5.0, **kw: Any) -> LoadedPolicy:
    """A policy: velocity above ``fire`` (clears below ``clear``) proposes a work order."""

    def evaluate(
        reports: Sequence[HealthReport], ctx: PolicyContext, p: Any
    ) -> list[ProposedAction]:
        r = reports[-1]
        key = f"wo:{r.asset_id}"
        v = r.indicator("velocity_rms")
        if v is None or not ctx.exceeds(key, v.value, fire, clear):
            return []
        return [work_order(r.asset_id, key)]

    return make_policy(evaluate, **kw)


ASSET_TOML = """
id = "mill-1"
name = "CNC milling centre, main spindle (scalar channels only)"
line = "line-1"
bottleneck = true
capabilities = ["milling", "drilling"]
commissioning_hours = 48.0

[[sensors]]
name = "spindle_vel"
kind = "vibration_velocity"
unit = "mm/s"
min = 0.0
max = 50.0
correlated_with = ["spindle_load"]

[[sensors]]
name = "bearing_temp"
kind = "temperature"
unit = "degC"
min = -20.0
max = 150.0
max_step = 8.0
correlated_with = ["spindle_load", "spindle_power", "spindle_vel"]

[[sensors]]
name = "spindle_load"
kind = "spindle_load"
unit = "%"
min = 0.0
max = 150.0

[[sensors]]
name = "spindle_power"
kind = "power"
unit = "kW"
min = 0.0
max = 40.0
correlated_with = ["spindle_load"]

[thresholds.limits.bearing_temp]
amber = 75.0
red = 90.0
"""


def write_twin_history(folder: Path, seed: int) -> tuple[Path, Path, datetime]:
    """A bearing-wear run of the machine twin as a recorded history: readings CSV + asset TOML.

    Waveforms do not fit a CSV, so the history holds the scalar channels, as a plant historian
    would; returns the files and the twin's known failure time.
    """
    from agents.simulator.machine_twin import MachineTwin

    twin = MachineTwin(seed)
    columns = ["spindle_vel", "bearing_temp", "spindle_load", "spindle_power"]
    csv_path = folder / f"mill-1-seed{seed}.csv"
    with csv_path.open("w") as fh:
        fh.write(",".join(["time", *columns]) + "\n")
        for r in twin.readings():
            fh.write(
                ",".join([r.time.isoformat(), *(f"{r.values[c]:.5f}" for c in columns)]) + "\n"
            )
    toml_path = folder / "mill-1.toml"
    toml_path.write_text(ASSET_TOML)
    failure = twin.failure_at
    assert failure is not None
    return csv_path, toml_path, failure
