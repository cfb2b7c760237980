"""What `autoops report shift --json` must show after a demo run (called by test_demo.py, which
already pays for the demo; a second run here would double the suite's longest test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

AUTOOPS = Path(sys.executable).with_name("autoops")


def check_shift_report(state: Path) -> dict:
    env = {**os.environ, "AUTOOPS_STATE_DIR": str(state)}
    done = subprocess.run([str(AUTOOPS), "report", "shift", "--json"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    for key in ("machines", "downtime", "mtbf_h", "mttr_h", "energy_per_unit", "yield", "policies"):
        assert key in report, key
    assert set(report["machines"]) == {"mill-1", "mill-2", "lathe-1", "lathe-2", "furnace-1"}
    for m in report["machines"].values():
        for k in ("availability", "performance", "quality", "oee"):
            assert 0.0 <= m[k] <= 1.0
        # A, P, Q and OEE are each rounded to 4 places (<= 5e-5 off): their product may differ
        # from the rounded OEE by up to 3 x 5e-5 + 5e-5.
        assert m["oee"] == pytest.approx(m["availability"] * m["performance"] * m["quality"], abs=2.5e-4)
        assert m["produced"] > 0 and m["good"] <= m["produced"]
    assert report["downtime"].get("micro-stop", 0) > 0
    assert report["energy_per_unit"]["plant"] > 0
    assert set(report["yield"]) >= {"by_line", "by_shift", "by_batch", "significant"}
    bearing = report["policies"]["bearing-wear"]
    assert bearing["actions"] >= 1 and bearing["confirmed"] >= 1, report["policies"]  # confirmed
    assert bearing["median_lead_h"] is not None and bearing["median_lead_h"] > 0
    assert report["mtbf_h"]["mill-1"] is not None and report["mttr_h"]["mill-1"] is not None
    return report
