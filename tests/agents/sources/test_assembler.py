"""The assembler keeps one value per tag and moment: the first (a poll stamped before it read can
carry the next moment's value under the earlier time; the twin feed's Modbus test met it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.sources.assembler import ReadingAssembler
from agents.sources.base import Quality, TagSample

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _s(sensor: str, value: float, at: datetime, source: str = "plc") -> TagSample:
    return TagSample(source, "C-1", sensor, value, "kW", Quality.GOOD, at)


def test_a_second_sample_of_one_tag_at_one_time_does_not_replace_the_first() -> None:
    asm = ReadingAssembler()
    t1 = T0 + timedelta(minutes=1)
    asm.add(_s("power", 52.64, T0))
    asm.add(_s("flow", 3.1, T0))
    asm.add(_s("power", 55.04, T0))  # a poll stamped T0 that read after the next write
    asm.add(_s("power", 55.04, t1))
    first, second = asm.flush()
    assert (first.time, first.values) == (T0, {"power": 52.64, "flow": 3.1})
    assert (second.time, second.values) == (t1, {"power": 55.04, "flow": 3.1})
    assert asm.samples_by_source["plc"] == 4  # every sample still counted as received


def test_the_same_sensor_from_two_sources_at_one_time_is_each_applied_in_order() -> None:
    # Two sources naming one sensor is a configuration the hub allows; arrival order decides.
    asm = ReadingAssembler()
    asm.add(_s("power", 50.0, T0, source="plc"))
    asm.add(_s("power", 51.0, T0, source="meter"))
    (reading,) = asm.flush()
    assert reading.values == {"power": 51.0}
