"""MQTT source against amqtt's broker on loopback: JSON payloads and Sparkplug B."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import aiomqtt
import pytest

from agents.simulator.endpoints import HOST, MqttBroker, SparkplugEdgeNode
from agents.sources.base import Quality
from agents.sources.mqtt import MqttSource
from tests.agents.sources.helpers import Collected, running, wait_until
from tests.agents.sources.plant import plant

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

JSON_TAGS = """\
tags = [
  { asset = "pump-1", sensor = "bearing_temp", topic = "plant/pump-1/state", path = "temp.value", time_path = "ts", unit = "degF" },
  { asset = "pump-1", sensor = "flow", topic = "plant/pump-1/state", path = "flow", time_path = "ts" },
  { asset = "pump-1", sensor = "current", topic = "plant/pump-1/current", path = "values.0", unit = "A" },
]
"""

SPARKPLUG_TAGS = """\
tags = [
  { asset = "press-1", sensor = "motor_power", group = "plant", node = "meters", device = "press-1", metric = "power", unit = "W" },
  { asset = "press-1", sensor = "speed", group = "plant", node = "meters", device = "press-1", metric = "speed" },
  { asset = "pump-1", sensor = "current", group = "plant", node = "meters", device = "pump-1", metric = "current" },
]
"""


def _spec(tmp: Path, url: str, fmt: str, tags: str) -> object:
    text = f'[[sources]]\nid = "broker"\nkind = "mqtt"\nendpoint = "{url}"\nformat = "{fmt}"\nreconnect_max_s = 1\n{tags}'
    (spec,) = plant(tmp, text).source_specs()
    return spec


async def test_json_values_with_path_time_and_unit_and_bad_payloads_fault_their_tags(
    tmp_path: Path,
) -> None:
    broker = MqttBroker()
    await broker.start()
    try:
        source = MqttSource(_spec(tmp_path, broker.url, "json", JSON_TAGS))  # type: ignore[arg-type]
        got = Collected()
        async with running(source, got), aiomqtt.Client(HOST, broker.port) as pub:
            await wait_until(source.connected.is_set, "subscribed")
            ts = int((T0 + timedelta(minutes=1)).timestamp() * 1000)
            await pub.publish(
                "plant/pump-1/state",
                json.dumps({"ts": ts, "temp": {"value": 212.0}, "flow": 140}),
                qos=1,
            )
            await pub.publish("plant/pump-1/current", json.dumps({"values": [12.5, 0]}), qos=1)
            await wait_until(
                partial(got.at, "bearing_temp", T0 + timedelta(minutes=1)),
                "a JSON value with its time",
            )
            assert (
                got.last("bearing_temp").value == pytest.approx(100.0)
                and got.last("bearing_temp").unit == "degC"
            )
            assert got.last("flow").value == 140.0
            await wait_until(
                lambda: got.latest_is("current", Quality.GOOD), "a value by list index"
            )
            assert got.last("current").value == 12.5

            await pub.publish("plant/pump-1/state", b"\x00\xffgarbage{", qos=1)
            await wait_until(lambda: got.latest_is("flow", Quality.BAD), "garbage")
            assert "is not JSON" in got.last("flow").reason and got.latest_is(
                "bearing_temp", Quality.BAD
            )
            await pub.publish(
                "plant/pump-1/state",
                b'{"ts": 1772344800, "temp": {"value": NaN}, "flow": "high"}',
                qos=1,
            )
            await wait_until(
                lambda: "type mismatch" in got.last("flow").reason,
                "a string where a number belongs",
            )
            assert got.last("bearing_temp").reason == "value is NaN"
            await pub.publish("plant/pump-1/state", json.dumps({"ts": ts, "temp": {}}), qos=1)
            await wait_until(
                lambda: "no field 'temp.value'" in got.last("bearing_temp").reason,
                "a missing field",
            )
            # The other topic keeps flowing.
            await pub.publish("plant/pump-1/current", json.dumps({"values": [13.0]}), qos=1)
            await wait_until(lambda: got.last("current").value == 13.0, "current keeps flowing")
    finally:
        await broker.stop()


async def test_sparkplug_births_data_deaths_and_garbage(tmp_path: Path) -> None:
    broker = MqttBroker()
    await broker.start()
    edge = SparkplugEdgeNode(HOST, broker.port, "plant", "meters")
    try:
        source = MqttSource(_spec(tmp_path, broker.url, "sparkplug", SPARKPLUG_TAGS))  # type: ignore[arg-type]
        got = Collected()
        async with running(source, got):
            await wait_until(source.connected.is_set, "subscribed")
            await edge.connect()
            await edge.birth("press-1", {"power": 15000.0, "speed": 1450, "running": True}, at=T0)
            await edge.birth("pump-1", {"current": 11.0}, at=T0)
            await wait_until(partial(got.at, "motor_power", T0), "DBIRTH values")
            assert (
                got.last("motor_power").value == pytest.approx(15.0)
                and got.last("speed").value == 1450.0
            )
            # DDATA by alias only, with each metric's own timestamp.
            await edge.data(
                "press-1", {"power": 18000.0, "speed": 1500}, at=T0 + timedelta(seconds=10)
            )
            await wait_until(partial(got.at, "speed", T0 + timedelta(seconds=10)), "DDATA by alias")
            assert got.last("motor_power").value == pytest.approx(18.0)
            await edge.data("press-1", {"speed": None}, at=T0 + timedelta(seconds=11))
            await wait_until(lambda: got.latest_is("speed", Quality.BAD), "a null metric")
            await edge.raw("DDATA", "press-1", b"\xff\xfe\xfd not protobuf")
            await wait_until(
                lambda: "not a Sparkplug B payload" in got.last("motor_power").reason, "garbage"
            )
            # DDEATH: that device's tags are stale; the other device keeps flowing.
            await edge.death("press-1")
            await wait_until(lambda: got.latest_is("motor_power", Quality.NO_DATA), "DDEATH")
            assert "DDEATH" in got.last("speed").reason and got.latest_is("current", Quality.GOOD)
            await edge.data("pump-1", {"current": 12.0}, at=T0 + timedelta(seconds=12))
            await wait_until(
                partial(got.at, "current", T0 + timedelta(seconds=12)), "the other device"
            )
            # The edge node drops off: the broker publishes its NDEATH will.
            edge.drop()
            await wait_until(
                lambda: got.latest_is("current", Quality.NO_DATA), "NDEATH", deadline_s=60
            )
            assert "NDEATH" in got.last("current").reason
    finally:
        await edge.close()
        await broker.stop()


async def test_broker_down_is_no_data_and_the_source_reconnects(tmp_path: Path) -> None:
    broker = MqttBroker()
    port = broker.port
    await broker.start()
    source = MqttSource(_spec(tmp_path, broker.url, "json", JSON_TAGS))  # type: ignore[arg-type]
    got = Collected()
    try:
        async with running(source, got):
            await wait_until(source.connected.is_set, "subscribed")
            await broker.stop()
            await wait_until(
                lambda: got.latest_is("flow", Quality.NO_DATA), "no data while the broker is down"
            )
            broker = MqttBroker(port)
            await broker.start()
            await wait_until(source.connected.is_set, "reconnected", deadline_s=60)
            async with aiomqtt.Client(HOST, port) as pub:
                await pub.publish("plant/pump-1/current", json.dumps({"values": [9.5]}), qos=1)
                await wait_until(lambda: got.latest_is("current", Quality.GOOD), "values resume")
    finally:
        await broker.stop()

