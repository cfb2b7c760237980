from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agents.errors import SensorSpecError
from agents.models import AssetKind, HealthReport, RulEstimate, SensorKind, SensorSpec, Status


def test_unit_must_fit_sensor_kind() -> None:
    with pytest.raises(SensorSpecError, match="unit 'bar' does not fit kind 'temperature'"):
        SensorSpec(name="t1", kind=SensorKind.TEMPERATURE, unit="bar")
    assert SensorSpec(name="ci", kind=SensorKind.CONDITION_INDICATOR, unit="anything").unit == "anything"


def test_unknown_sensor_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="kind"):
        SensorSpec(name="x", kind="telepathy", unit="mm/s")  # type: ignore[arg-type]


def test_worst_status_and_report_ids() -> None:
    assert Status.worst(Status.GREEN, Status.RED, Status.AMBER) is Status.RED
    report = HealthReport(
        report_id=HealthReport.make_id("mill-1", 7),
        asset_id="mill-1",
        asset_kind=AssetKind.MACHINE,
        seq=7,
        time=datetime(2026, 1, 1, tzinfo=UTC),
        status=Status.AMBER,
        health_score=0.6,
        rul=RulEstimate(value=55, lower=40, upper=70),
    )
    assert report.report_id == "mill-1:7"
    with pytest.raises(ValidationError):
        RulEstimate(value=10, lower=20, upper=30)
    with pytest.raises(ValidationError):
        report.model_copy(update={}).__class__(**{**report.model_dump(), "surprise": 1})
