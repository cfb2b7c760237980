"""KPI arithmetic against hand-computed ISO 22400-2 / EN 15341 examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from orchestrator.config import Break, Schedule, Shift
from orchestrator.kpi import ShiftWindow, energy_per_unit, mtbf_h, mttr_h, oee, two_proportion_z
from orchestrator.kpi.calendar import last_completed_shift, next_shift_end, split
from orchestrator.kpi.outcomes import ActionRecord, policy_outcomes


def test_oee_hand_computed_example() -> None:
    # 8 h shift, 30 min break -> planned busy 7.5 h; 45 min unplanned down -> run 6.75 h.
    # Ideal cycle 60 s, 360 parts made -> 6 h of ideal time; 342 good.
    f = oee(planned_busy_h=7.5, run_h=6.75, ideal_cycle_s=60, produced=360, good=342)
    assert f.availability == pytest.approx(0.9)
    assert f.performance == pytest.approx(6.0 / 6.75)  # 0.8889
    assert f.quality == pytest.approx(0.95)
    assert f.oee == pytest.approx(0.9 * (6.0 / 6.75) * 0.95)  # = 0.76
    assert f.oee == pytest.approx(0.76)
    assert f.oee == pytest.approx(f.availability * f.performance * f.quality)


def test_no_planned_time_is_zero_not_an_error() -> None:
    f = oee(planned_busy_h=0.0, run_h=0.0, ideal_cycle_s=60, produced=0, good=0)
    assert (f.availability, f.performance, f.quality, f.oee) == (0.0, 0.0, 0.0, 0.0)


def test_zero_output_gives_zero_performance_and_quality() -> None:
    f = oee(planned_busy_h=8.0, run_h=8.0, ideal_cycle_s=60, produced=0, good=0)
    assert f.availability == 1.0
    assert f.performance == 0.0 and f.quality == 0.0 and f.oee == 0.0


def test_performance_capped_and_inconsistent_inputs_refused() -> None:
    # 500 parts at 60 s ideal = 8.33 h of ideal time in 8 h run: the ideal cycle is wrong.
    assert oee(planned_busy_h=8, run_h=8, ideal_cycle_s=60, produced=500, good=500).performance == 1.0
    with pytest.raises(ValueError, match="exceeds planned busy time"):
        oee(planned_busy_h=7, run_h=8, ideal_cycle_s=60, produced=1, good=1)
    with pytest.raises(ValueError, match="good count"):
        oee(planned_busy_h=8, run_h=8, ideal_cycle_s=60, produced=1, good=2)


def test_shift_spanning_midnight() -> None:
    night = ShiftWindow.of("night", date(2026, 3, 1), time(22), time(6), "Europe/Berlin")
    # 22:00 CET = 21:00 UTC; ends next day 06:00 CET = 05:00 UTC
    assert night.start == datetime(2026, 3, 1, 21, tzinfo=UTC)
    assert night.end == datetime(2026, 3, 2, 5, tzinfo=UTC)
    assert night.hours == 8.0
    assert night.key == "2026-03-01:night"

    schedule = Schedule(
        timezone="Europe/Berlin",
        shifts=(Shift(name="night", start=time(22), end=time(6)),),
        planned_breaks=(Break(name="meal", start=time(1, 30), end=time(2)),),
    )
    busy, stops = split(schedule, night.start, night.end)
    assert sum((b.end - b.start).total_seconds() for b in busy) / 3600 == 7.5  # 8 h - 30 min meal
    assert [s.reason for s in stops] == ["meal"]
    assert all(b.shift == "night" for b in busy)
    # OEE over the midnight shift: 7.5 h planned, 7 h run, 400 parts at 60 s, 390 good.
    f = oee(planned_busy_h=7.5, run_h=7.0, ideal_cycle_s=60, produced=400, good=390)
    assert f.oee == pytest.approx((7 / 7.5) * (400 / 60 / 7) * (390 / 400))
    # The shift ended on the next calendar day; at 07:00 CET it is the last completed one.
    done = last_completed_shift(schedule, datetime(2026, 3, 2, 6, tzinfo=UTC))
    assert done is not None and done.key == "2026-03-01:night"
    upcoming = next_shift_end(schedule, datetime(2026, 3, 2, 6, tzinfo=UTC))
    assert upcoming is not None and upcoming.end == datetime(2026, 3, 3, 5, tzinfo=UTC)


def test_dst_night_is_shorter() -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 02:00: that night shift is 7 h long.
    night = ShiftWindow.of("night", date(2026, 3, 28), time(22), time(6), "Europe/Berlin")
    assert night.hours == 7.0


def test_mtbf_mttr_energy() -> None:
    # 400 h of operation, 2 failures -> 200 h; repairs of 3 h and 5 h -> 4 h.
    assert mtbf_h(400.0, 2) == 200.0
    assert mttr_h([3.0, 5.0]) == 4.0
    assert mtbf_h(400.0, 0) is None and mttr_h([]) is None
    assert energy_per_unit(1200.0, 800) == 1.5
    assert energy_per_unit(50.0, 0) is None


def test_yield_difference_needs_significance() -> None:
    # 95 % vs 90 % on 2000 parts each: pooled 0.925, se = sqrt(.925*.075*2/2000) = 0.00833, z = 6.0.
    big = two_proportion_z(1900, 2000, 1800, 2000)
    assert big.significant and big.z == pytest.approx(6.0, abs=0.01)
    # The same yields on 40 parts each: noise.
    small = two_proportion_z(38, 40, 36, 40)
    assert not small.significant
    assert not two_proportion_z(0, 0, 5, 10).significant


def test_policy_precision_and_lead_time() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    actions = [
        ActionRecord("bearing-wear", "1.2.0", "mill-1", "confirmed", t0 + timedelta(hours=30), t0),
        ActionRecord("bearing-wear", "1.2.0", "mill-2", "confirmed", t0 + timedelta(hours=50), t0),
        ActionRecord("bearing-wear", "1.2.0", "lathe-1", "no_fault_found", t0, t0),
        ActionRecord("bearing-wear", "1.2.0", "lathe-2", None),
    ]
    [row] = policy_outcomes(actions, {("bearing-wear", "1.2.0"): 1})
    assert (row.actions, row.confirmed, row.no_fault_found, row.missed) == (4, 2, 1, 1)
    assert row.precision == pytest.approx(2 / 3)
    assert row.median_lead_h == 40.0
