"""Learn: plant and maintenance KPIs as plain functions (ISO 22400-2, EN 15341).

No I/O here: the history store (``orchestrator.history``) supplies the times and counts, the
shift report (``orchestrator.report``) presents them.
"""

from orchestrator.kpi.iso22400 import OeeFigures, ShiftWindow, oee, overlap_h
from orchestrator.kpi.maintenance import energy_per_unit, mtbf_h, mttr_h
from orchestrator.kpi.significance import ProportionTest, two_proportion_z

__all__ = [
    "OeeFigures",
    "ProportionTest",
    "ShiftWindow",
    "energy_per_unit",
    "mtbf_h",
    "mttr_h",
    "oee",
    "overlap_h",
    "two_proportion_z",
]
