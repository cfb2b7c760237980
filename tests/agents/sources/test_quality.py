"""Data quality: bad values become sensor faults with the source's reason, never machine faults."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agents.machine import MachineAgent
from agents.machine_config import MachineAsset
from agents.models import FaultKind, Status
from agents.runtime.actor import _assess
from agents.sources.assembler import ReadingAssembler
from agents.sources.base import Quality, TagSample, coerce
from agents.sources.buffer import ReadingBuffer
from agents.sources.config import ModbusTag
from agents.sources.modbus import decode_registers, encode_registers

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        (21.5, 21.5, ""),
        (7, 7.0, ""),
        (True, 1.0, ""),
        (math.nan, None, "value is NaN"),
        (math.inf, None, "value is inf"),
        ("hot", None, "type mismatch: string 'hot' where a number belongs"),
        ([1, 2], None, "type mismatch: list where a number belongs"),
        (None, None, "null value"),
    ],
)
def test_coerce(raw: object, value: float | None, reason: str) -> None:
    assert coerce(raw) == (value, reason)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "uint32", "float32"])
@pytest.mark.parametrize("byte_order", ["big", "little"])
@pytest.mark.parametrize("word_order", ["big", "little"])
def test_modbus_registers_every_type_and_order(
    dtype: str, byte_order: str, word_order: str
) -> None:
    tag = ModbusTag(
        asset="a", sensor="s", register=0, type=dtype, byte_order=byte_order, word_order=word_order
    )  # type: ignore[arg-type]
    value = {
        "int16": -1234,
        "uint16": 54321,
        "int32": -123456789,
        "uint32": 3_000_000_000,
        "float32": 12.375,
    }[dtype]
    words = encode_registers(value, tag)
    assert len(words) == tag.width
    assert decode_registers(words, tag) == value


def test_modbus_word_order_matters() -> None:
    big = ModbusTag(asset="a", sensor="s", register=0, type="float32")
    swapped = ModbusTag(asset="a", sensor="s", register=0, type="float32", word_order="little")
    assert encode_registers(1.0, big) == [0x3F80, 0x0000]
    assert encode_registers(1.0, swapped) == [0x0000, 0x3F80]


def _s(
    sensor: str, value: float | None, t: datetime, quality: Quality = Quality.GOOD, reason: str = ""
) -> TagSample:
    return TagSample("src", "press-1", sensor, value, "degC", quality, t, reason)


def test_assembler_one_reading_per_source_time_values_carried_forward_bad_ones_faults() -> None:
    asm = ReadingAssembler()
    asm.add(_s("oil_temp", 40.0, T0))
    asm.add(_s("pressure", 120.0, T0 + timedelta(seconds=1)))
    asm.add(_s("oil_temp", 40.5, T0 + timedelta(seconds=1)))
    first, second = asm.flush()  # a burst (back-filled history): one reading per moment
    assert (first.time, dict(first.values)) == (T0, {"oil_temp": 40.0})
    assert second.time == T0 + timedelta(seconds=1)
    assert dict(second.values) == {"oil_temp": 40.5, "pressure": 120.0}
    assert asm.flush() == []  # nothing new, nothing sent
    asm.add(
        _s("pressure", None, T0 + timedelta(seconds=2), Quality.BAD, "OPC UA status BadSensorFailure")
    )
    (third,) = asm.flush()
    assert dict(third.values) == {"oil_temp": 40.5}  # the unchanged value is still the value
    (fault,) = third.source_faults
    assert fault.sensor == "pressure" and fault.kind is FaultKind.BAD_QUALITY
    assert "BadSensorFailure" in fault.detail and "(source src)" in fault.detail
    # A late sample never moves an asset's time backwards: agents key readings by time.
    asm.add(_s("oil_temp", 41.0, T0))
    (fourth,) = asm.flush()
    assert fourth.time > third.time and fourth.values["oil_temp"] == 41.0


def _press() -> MachineAsset:
    return MachineAsset.model_validate(
        {
            "id": "press-1",
            "commissioning_readings": 10,
            "sensors": [
                {"name": "oil_temp", "kind": "temperature", "unit": "degC", "min": -20, "max": 150},
                {"name": "pressure", "kind": "pressure", "unit": "bar", "min": 0, "max": 400},
            ],
        }
    )


def test_no_data_is_a_sensor_fault_with_the_reason_not_a_red_machine() -> None:
    agent = MachineAgent(_press())
    asm = ReadingAssembler()
    report = None
    for i in range(30):
        t = T0 + timedelta(minutes=i)
        asm.add(_s("oil_temp", 40.0 + 0.3 * math.sin(i), t))
        quality = Quality.NO_DATA if i >= 25 else Quality.GOOD
        asm.add(
            _s(
                "pressure",
                None if i >= 25 else 120.0 + math.cos(i),
                t,
                quality,
                "OPC UA server opc.tcp://127.0.0.1:4840 unreachable (ConnectionError)"
                if i >= 25
                else "",
            )
        )
        (reading,) = asm.flush()
        (report,) = _assess(agent, reading)
    assert report is not None and report.status is not Status.RED
    faults = {f.sensor: f for f in report.sensor_faults}
    assert faults["pressure"].kind is FaultKind.NO_DATA
    assert "unreachable" in faults["pressure"].detail
    assert faults["pressure"].since == T0 + timedelta(minutes=25)
    assert "oil_temp" not in faults


def test_buffer_keeps_order_and_timestamps_and_drops_the_oldest_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from agents.base import Reading

    path = tmp_path / "state" / "sources.sqlite"
    buf = ReadingBuffer(path, max_readings=5)
    readings = [
        Reading("press-1", T0 + timedelta(seconds=i), {"oil_temp": 40.0 + i, "pressure": math.nan})
        for i in range(8)
    ]
    buf.put(readings[:4])
    with caplog.at_level("WARNING"):
        assert buf.put(readings[4:]) == 3
    assert "dropped the 3 oldest" in caplog.text
    buf.close()
    again = ReadingBuffer(path, max_readings=5)  # a restarted orchestrator finds them on disk
    assert again.dropped == 3 and len(again) == 5
    rows = again.peek(3)
    assert [r.time for _, r in rows] == [T0 + timedelta(seconds=i) for i in (3, 4, 5)]
    assert rows[0][1].values["oil_temp"] == 43.0 and math.isnan(rows[0][1].values["pressure"])
    again.ack(rows[-1][0])
    assert [r.time.second for _, r in again.peek()] == [6, 7]
    again.close()
