"""Cases for reroute-bottleneck: only degraded bottlenecks with a queue move work."""

from __future__ import annotations

from agents.models import FaultKind, Status
from policies.base import Case, MachineInfo, PolicyContext
from policies.models import Autonomy
from policies.testing import T0, report


def ctx(
    bottleneck: bool = True, queued: int = 5, alternatives: tuple[str, ...] = ("cnc-4",)
) -> PolicyContext:
    return PolicyContext(
        now=T0,
        site="plant-a",
        machines={
            "cnc-3": MachineInfo(
                asset_id="cnc-3",
                bottleneck=bottleneck,
                queued_jobs=queued,
                capabilities=("milling-5ax",),
                alternatives=alternatives,
            )
        },
    )


CASES = [
    Case(
        "red bottleneck with 5 jobs queued reroutes to cnc-4",
        [report("cnc-3", status=Status.RED)],
        ctx(),
        expect="fires",
        kinds=("reroute_work",),
        autonomy=Autonomy.APPROVE,
    ),
    Case(
        "no capable alternative: the plant manager is told",
        [report("cnc-3", status=Status.RED)],
        ctx(alternatives=()),
        expect="fires",
        kinds=("notify",),
        forbidden_kinds=("reroute_work",),
    ),
    Case(
        "not a bottleneck: the queue can wait",
        [report("cnc-3", status=Status.RED)],
        ctx(bottleneck=False),
        expect="silent",
    ),
    Case(
        "empty queue: nothing to move",
        [report("cnc-3", status=Status.RED)],
        ctx(queued=0),
        expect="silent",
    ),
    Case(
        "healthy machine with a sensor fault is not degraded",
        [report("cnc-3", status=Status.GREEN, faults={"spindle_load": FaultKind.FLATLINE})],
        ctx(),
        expect="silent",
    ),
]
