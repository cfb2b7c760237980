"""A shard's machine agents assessed together: one numpy pass where a pass per asset was paid.

``AssetActor`` hands a batch's machine readings here in rounds (one reading per asset each). Each
agent runs the first half of its assessment (``MachineAgent.begin``: sensor checks, features,
limits, baseline z-scores, drift); the trend fits of all the shard's main indicators -- the
costliest numerical step, a least-squares fit of two models over each asset's window -- are made
as one 2-D array per window length (``agents.trend.fit_trend_many``); then each agent finishes
(``MachineAgent.finish``: RUL, anomaly hysteresis, status persistence) without building its report.
The caller builds the reports it will publish (``MachineAgent.report``): on a change of
``Step.signature`` (status, indicator levels, faults) or as a heartbeat.

Statuses, indicator levels and faults are those of ``MachineAgent.assess`` on the same readings
(``tests/agents/test_machine_shard.py`` runs the simulator's scenarios through both); indicator
values agree to the rounding of the report, trend statistics to the order of float additions.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.base import Reading
from agents.machine import MachineAgent, Step
from agents.trend import TrendFit, fit_trend_many


def assess_round(
    agents: Sequence[MachineAgent], readings: Sequence[Reading]
) -> list[Step | Exception]:
    """One reading per agent, assessed together; an agent that fails gives its exception.

    Each agent must appear once: its second reading needs the state its first one leaves.
    """
    steps: list[Step | Exception] = []
    for agent, reading in zip(agents, readings, strict=True):
        try:
            steps.append(agent.begin(reading))
        except Exception as exc:  # the actor's supervisor boundary logs it, per reading
            steps.append(exc)
    fit_of: dict[int, TrendFit | None] = {}
    fitted: list[int] = []  # windows that changed since their last fit (a point was kept)
    for i, s in enumerate(steps):
        if isinstance(s, Step) and s.fit_args is not None:
            hit, fit = agents[i].tracker.cached_fit(*s.fit_args)
            if hit:
                fit_of[i] = fit
            else:
                fitted.append(i)
    fits = fit_trend_many(
        [agents[i].tracker.array() for i in fitted],
        [steps[i].fit_args[0] for i in fitted],  # type: ignore[union-attr,index]
        [steps[i].fit_args[1] for i in fitted],  # type: ignore[union-attr,index]
    )
    for i, fit in zip(fitted, fits, strict=True):
        agents[i].tracker.remember_fit(*steps[i].fit_args, fit)  # type: ignore[union-attr,misc]
        fit_of[i] = fit
    for i, step in enumerate(steps):
        if isinstance(step, Exception):
            continue
        try:
            agents[i].finish(step, fit_of.get(i), build=False)
        except Exception as exc:
            steps[i] = exc
    return steps


def rounds(items: Sequence[tuple[str, int]]) -> list[list[int]]:
    """Split (asset id, position) items into rounds holding each asset at most once, in order."""
    out: list[list[int]] = []
    seen: dict[str, int] = {}
    for asset_id, pos in items:
        k = seen.get(asset_id, 0)
        seen[asset_id] = k + 1
        if k == len(out):
            out.append([])
        out[k].append(pos)
    return out


__all__ = ["assess_round", "rounds"]
