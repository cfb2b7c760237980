"""Sparkplug B payloads: our hand-written subset against protobuf's own encoder."""

from __future__ import annotations

import pytest

from agents.sources import sparkplug
from agents.sources.sparkplug import DataType, Metric, Payload


def _tahu_payload_class():  # the Tahu schema's subset, built with protobuf itself
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name="sparkplug_b_subset.proto", package="org.eclipse.tahu.protobuf"
    )
    payload = fdp.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    for name, number, ftype in [
        ("name", 1, F.TYPE_STRING),
        ("alias", 2, F.TYPE_UINT64),
        ("timestamp", 3, F.TYPE_UINT64),
        ("datatype", 4, F.TYPE_UINT32),
        ("is_null", 7, F.TYPE_BOOL),
        ("int_value", 10, F.TYPE_UINT32),
        ("long_value", 11, F.TYPE_UINT64),
        ("float_value", 12, F.TYPE_FLOAT),
        ("double_value", 13, F.TYPE_DOUBLE),
        ("boolean_value", 14, F.TYPE_BOOL),
        ("string_value", 15, F.TYPE_STRING),
        ("bytes_value", 16, F.TYPE_BYTES),
    ]:
        metric.field.add(name=name, number=number, type=ftype, label=F.LABEL_OPTIONAL)
    payload.field.add(name="timestamp", number=1, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    payload.field.add(
        name="metrics",
        number=2,
        type=F.TYPE_MESSAGE,
        label=F.LABEL_REPEATED,
        type_name=".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    payload.field.add(name="seq", number=3, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    payload.field.add(name="uuid", number=4, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    )


VALUES = [
    ("i8", DataType.INT8, -5),
    ("i16", DataType.INT16, -30000),
    ("i32", DataType.INT32, -2_000_000_000),
    ("i64", DataType.INT64, -(2**40)),
    ("u16", DataType.UINT16, 65000),
    ("u32", DataType.UINT32, 4_000_000_000),
    ("u64", DataType.UINT64, 2**50),
    ("f", DataType.FLOAT, 1.5),
    ("d", DataType.DOUBLE, 6.02e23),
    ("b", DataType.BOOLEAN, True),
    ("s", DataType.STRING, "running"),
]


def test_round_trip_every_datatype() -> None:
    metrics = [
        Metric(name=n, alias=i + 1, timestamp=1_767_225_600_000 + i, datatype=t, value=v)
        for i, (n, t, v) in enumerate(VALUES)
    ]
    decoded = sparkplug.decode(
        sparkplug.encode(Payload(timestamp=1_767_225_600_000, seq=7, metrics=metrics))
    )
    assert decoded.seq == 7 and decoded.timestamp == 1_767_225_600_000
    assert [(m.name, m.alias, m.value) for m in decoded.metrics] == [
        (n, i + 1, v) for i, (n, _, v) in enumerate(VALUES)
    ]


def test_protobuf_reads_ours_and_we_read_protobufs() -> None:
    cls = _tahu_payload_class()
    ours = sparkplug.encode(
        Payload(
            timestamp=5,
            seq=1,
            metrics=[Metric(name="power", alias=3, datatype=DataType.DOUBLE, value=42.5)],
        )
    )
    theirs = cls.FromString(ours)
    assert theirs.metrics[0].name == "power" and theirs.metrics[0].double_value == 42.5
    msg = cls(timestamp=9, seq=2, uuid="ignored-by-us")
    m = msg.metrics.add(alias=3, timestamp=10, datatype=DataType.INT16)
    m.int_value = (-12) & 0xFFFFFFFF  # signed values travel as two's complement
    n = msg.metrics.add(name="flow", datatype=DataType.FLOAT, is_null=True)
    decoded = sparkplug.decode(msg.SerializeToString())
    assert decoded.metrics[0].alias == 3 and decoded.metrics[0].value == -12
    assert decoded.metrics[1].name == "flow" and decoded.metrics[1].is_null and n.is_null


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", b'{"power": 3}', b"\x12\x50abc"])
def test_garbage_is_refused(garbage: bytes) -> None:
    with pytest.raises(sparkplug.SparkplugDecodeError):
        sparkplug.decode(garbage)


def test_topics() -> None:
    t = sparkplug.parse_topic("spBv1.0/plant/DDATA/meters/comp-1")
    assert t == sparkplug.Topic("plant", "DDATA", "meters", "comp-1")
    assert sparkplug.parse_topic("spBv1.0/plant/NDEATH/meters").device is None
    assert sparkplug.parse_topic("plant/mill-1/temp") is None
