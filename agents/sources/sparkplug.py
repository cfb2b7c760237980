"""Sparkplug B payloads: a documented subset of Eclipse Tahu's ``sparkplug_b.proto``, by hand.

Sparkplug B payloads are protobuf (proto2). We read and write the wire format directly rather
than ship generated code: the subset is small and stable, and unknown fields are skipped as the
protobuf rules require, so a payload with more (metadata, properties, data sets, templates) still
decodes. Field numbers are those of ``org.eclipse.tahu.protobuf.Payload``:

    Payload  1 timestamp uint64 (ms) · 2 metrics repeated Metric · 3 seq uint64 · 4 uuid string
    Metric   1 name string · 2 alias uint64 · 3 timestamp uint64 (ms) · 4 datatype uint32 ·
             7 is_null bool · 10 int_value uint32 · 11 long_value uint64 · 12 float_value float ·
             13 double_value double · 14 boolean_value bool · 15 string_value string

Datatypes: Int8..Int64 = 1..4, UInt8..UInt64 = 5..8, Float = 9, Double = 10, Boolean = 11,
String = 12, DateTime = 13, Text = 14. Signed integers travel in ``int_value`` / ``long_value`` as
two's complement of their width. Topics: ``spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|
DDEATH>/<edge node>[/<device>]``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "spBv1.0"


class DataType:
    INT8, INT16, INT32, INT64 = 1, 2, 3, 4
    UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
    FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT = 9, 10, 11, 12, 13, 14


_SIGNED_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}


class SparkplugDecodeError(ValueError):
    """Bytes that are not a Sparkplug B payload."""


@dataclass
class Metric:
    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None  # ms since the epoch
    datatype: int = 0
    is_null: bool = False
    value: Any = None


@dataclass
class Payload:
    timestamp: int | None = None
    seq: int | None = None
    metrics: list[Metric] = field(default_factory=list)


# ---------------------------------------------------------------------------------- wire format
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise SparkplugDecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise SparkplugDecodeError("varint longer than 64 bits")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) of every field of one message."""
    out: list[tuple[int, int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise SparkplugDecodeError("field number 0")
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            if pos + 8 > len(data):
                raise SparkplugDecodeError("truncated 64-bit field")
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise SparkplugDecodeError("truncated length-delimited field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(data):
                raise SparkplugDecodeError("truncated 32-bit field")
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise SparkplugDecodeError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int, datatype: int) -> int:
    bits = _SIGNED_BITS.get(datatype)
    if bits is None:
        return value
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _decode_metric(data: bytes) -> Metric:
    m = Metric()
    raw: tuple[int, int, Any] | None = None
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            m.name = value.decode("utf-8", errors="replace")
        elif number == 2 and wire == 0:
            m.alias = value
        elif number == 3 and wire == 0:
            m.timestamp = value
        elif number == 4 and wire == 0:
            m.datatype = value
        elif number == 7 and wire == 0:
            m.is_null = bool(value)
        elif 10 <= number <= 16:
            raw = (number, wire, value)
    if raw is not None and not m.is_null:
        number, wire, value = raw
        if number in (10, 11) and wire == 0:
            m.value = _signed(value, m.datatype)
        elif number == 12 and wire == 5:
            m.value = struct.unpack("<f", value)[0]
        elif number == 13 and wire == 1:
            m.value = struct.unpack("<d", value)[0]
        elif number == 14 and wire == 0:
            m.value = bool(value)
        elif number == 15 and wire == 2:
            m.value = value.decode("utf-8", errors="replace")
        elif number == 16 and wire == 2:
            m.value = bytes(value)
    return m


def decode(data: bytes) -> Payload:
    """Decode a Sparkplug B payload; ``SparkplugDecodeError`` if the bytes are not one."""
    payload = Payload()
    try:
        for number, wire, value in _fields(bytes(data)):
            if number == 1 and wire == 0:
                payload.timestamp = value
            elif number == 2 and wire == 2:
                payload.metrics.append(_decode_metric(value))
            elif number == 3 and wire == 0:
                payload.seq = value
    except SparkplugDecodeError:
        raise
    except (struct.error, UnicodeError, ValueError) as exc:
        raise SparkplugDecodeError(str(exc)) from exc
    return payload


def _encode_metric(m: Metric) -> bytes:
    out = bytearray()
    if m.name is not None:
        raw = m.name.encode()
        out += _key(1, 2) + _varint(len(raw)) + raw
    if m.alias is not None:
        out += _key(2, 0) + _varint(m.alias)
    if m.timestamp is not None:
        out += _key(3, 0) + _varint(m.timestamp)
    out += _key(4, 0) + _varint(m.datatype)
    if m.is_null or m.value is None:
        out += _key(7, 0) + _varint(1)
        return bytes(out)
    t, v = m.datatype, m.value
    if t in (
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.UINT8,
        DataType.UINT16,
        DataType.UINT32,
    ):
        out += _key(10, 0) + _varint(int(v) & 0xFFFFFFFF)
    elif t in (DataType.INT64, DataType.UINT64, DataType.DATETIME):
        out += _key(11, 0) + _varint(int(v))
    elif t == DataType.FLOAT:
        out += _key(12, 5) + struct.pack("<f", float(v))
    elif t == DataType.DOUBLE:
        out += _key(13, 1) + struct.pack("<d", float(v))
    elif t == DataType.BOOLEAN:
        out += _key(14, 0) + _varint(1 if v else 0)
    elif t in (DataType.STRING, DataType.TEXT):
        raw = str(v).encode()
        out += _key(15, 2) + _varint(len(raw)) + raw
    else:
        raise ValueError(f"metric {m.name!r}: datatype {t} is not in the supported subset")
    return bytes(out)


def encode(payload: Payload) -> bytes:
    """Encode a payload (used by the demo's and the tests' edge nodes)."""
    out = bytearray()
    if payload.timestamp is not None:
        out += _key(1, 0) + _varint(payload.timestamp)
    for metric in payload.metrics:
        raw = _encode_metric(metric)
        out += _key(2, 2) + _varint(len(raw)) + raw
    if payload.seq is not None:
        out += _key(3, 0) + _varint(payload.seq)
    return bytes(out)


@dataclass(frozen=True)
class Topic:
    group: str
    message: str  # NBIRTH, NDATA, NDEATH, DBIRTH, DDATA, DDEATH, NCMD, DCMD, STATE
    node: str
    device: str | None


def parse_topic(topic: str) -> Topic | None:
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        return None
    return Topic(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None)


def topic(group: str, message: str, node: str, device: str | None = None) -> str:
    return "/".join(p for p in (NAMESPACE, group, message, node, device) if p is not None)


__all__ = [
    "DataType",
    "Metric",
    "Payload",
    "SparkplugDecodeError",
    "Topic",
    "decode",
    "encode",
    "parse_topic",
    "topic",
]
