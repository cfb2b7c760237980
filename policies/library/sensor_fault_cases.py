"""Cases for sensor-fault: instrument checks only, never a machine action."""

from __future__ import annotations

from agents.models import AssetKind, FaultKind, SensorFault, Status
from policies.base import Case, PolicyContext
from policies.models import Autonomy
from policies.testing import T0, report

CTX = PolicyContext(now=T0, site="plant-a")
MACHINE_ACTIONS = ("schedule_maintenance", "reroute_work", "order_parts")

CASES = [
    Case(
        "flatlined temperature sensor: instrument check work order",
        [report("press-1", status=Status.GREEN, faults={"bearing_temp": FaultKind.FLATLINE})],
        CTX,
        expect="fires",
        kinds=("create_work_order",),
        forbidden_kinds=MACHINE_ACTIONS,
        autonomy=Autonomy.AUTO,
    ),
    Case(
        "NaN burst on a red machine still only checks the instrument",
        [report("press-1", status=Status.RED, faults={"velocity_rms": FaultKind.NAN})],
        CTX,
        expect="fires",
        kinds=("create_work_order",),
        forbidden_kinds=MACHINE_ACTIONS,
    ),
    Case(
        "a stuck stock counter is an instrument too",
        [report("SKU-1", kind=AssetKind.INVENTORY, faults={"count": FaultKind.STUCK})],
        CTX,
        expect="fires",
        kinds=("create_work_order",),
    ),
    Case(
        "a plant roll-up repeating a compressor meter's fault: the compressor's own report orders it",
        [report("plant-energy", kind=AssetKind.ENERGY, status=Status.AMBER).model_copy(update={
            "sensor_faults": (SensorFault(sensor="C-1.power", kind=FaultKind.FLATLINE,
                                          detail="no change for 2 h", asset="C-1"),),
        })],
        CTX,
        expect="silent",
    ),
    Case(
        "healthy sensors: nothing to check",
        [report("press-1", status=Status.AMBER)],
        CTX,
        expect="silent",
    ),
]
