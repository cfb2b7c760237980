"""Real sensors wander: the spindle twin's readings with daily cycles, slow drift and more noise.

The twin's own readings are clean next to a plant's: its only variation is the job load. Real
instruments add a day/night ambient cycle (bearing temperature follows the hall, +-``temp_day_c``),
a slow mean-reverting wander of the vibration gain (mounting, lubrication, the neighbouring
machine: an Ornstein-Uhlenbeck process with a 12-h time constant) and more measurement noise.
``wander`` applies them to a reading stream; ``spindle_run`` runs a spindle (healthy or wearing)
through an agent with them, without the declared temperature limit, so every indicator but the
ISO-judged velocity is judged by its learned baseline only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from agents.base import Reading
from agents.machine import MachineAgent, MachineThresholds
from agents.models import Status
from agents.simulator.machine_twin import MachineTwin


def wander(
    readings: Iterable[Reading],
    seed: int,
    *,
    temp_day_c: float = 3.0,
    vel_wander: float = 0.06,
    noise: float = 2.0,
) -> Iterator[Reading]:
    """The same readings as real instruments would report them (see the module docstring)."""
    rng = np.random.default_rng([seed, 7])
    ou, last_h, start = 0.0, None, None
    phase = float(rng.uniform(0, 2 * math.pi))
    for r in readings:
        start = start or r.time
        t_h = (r.time - start).total_seconds() / 3600.0
        dt = 0.0 if last_h is None else t_h - last_h
        last_h = t_h
        # Ornstein-Uhlenbeck, tau 12 h, stationary standard deviation vel_wander.
        a = math.exp(-dt / 12.0)
        ou = a * ou + vel_wander * math.sqrt(1 - a * a) * float(rng.standard_normal())
        values = dict(r.values)
        if "bearing_temp" in values:
            day = temp_day_c * math.sin(2 * math.pi * t_h / 24.0 + phase)
            values["bearing_temp"] += day + float(rng.normal(0.0, 0.15 * (noise - 1)))
        if "spindle_vel" in values:
            values["spindle_vel"] *= 1.0 + ou + float(rng.normal(0.0, 0.03 * (noise - 1)))
        waves = {k: v * (1.0 + ou) for k, v in r.waveforms.items()}
        yield Reading(asset_id=r.asset_id, time=r.time, values=values, waveforms=waves)


def spindle_run(seed: int, *, healthy_h: float | None = None) -> dict[str, Any]:
    """A spindle with wandering instruments: healthy for ``healthy_h`` hours, else run to failure."""
    if healthy_h is not None:
        twin = MachineTwin(seed, onset_h=math.inf, life_h=math.inf)
        stream = twin.readings(until_h=healthy_h)
    else:
        twin = MachineTwin(seed)
        stream = twin.readings()
    asset = twin.asset.model_copy(update={"thresholds": MachineThresholds()})
    agent = MachineAgent(asset)
    reports = [(twin.hours(r.time), agent.assess(r)) for r in wander(stream, seed)]
    onset = twin.onset_h
    amber = [(t, r) for t, r in reports if r.status.rank >= Status.AMBER.rank]
    first = amber[0] if amber else None
    return {
        "seed": seed,
        "hours": round(reports[-1][0], 1),
        "onset_at_h": None if math.isinf(onset) else round(onset, 2),
        "failure_at_h": None if math.isinf(twin.failure_at_h) else round(twin.failure_at_h, 2),
        "false_amber_readings": sum(1 for t, _ in amber if t < onset),
        "first_amber_at_h": round(first[0], 2) if first else None,
        "amber_lead_h": round(twin.failure_at_h - first[0], 2)
        if first and not math.isinf(twin.failure_at_h)
        else None,
        "first_amber_summary": first[1].summary if first else None,
        "red_readings": sum(1 for _, r in reports if r.status is Status.RED),
    }


__all__ = ["spindle_run", "wander"]
