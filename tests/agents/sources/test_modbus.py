"""Modbus TCP source against a pymodbus server on loopback, started and stopped by each test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agents.simulator.endpoints import ModbusEndpoint
from agents.sources.base import Quality
from agents.sources.modbus import ModbusSource, encode_registers
from tests.agents.sources.helpers import Collected, running, wait_until
from tests.agents.sources.plant import plant

pytestmark = pytest.mark.integration

TAGS = """\
tags = [
  { asset = "pump-1", sensor = "flow", register = 0, type = "float32", unit = "m3/h" },
  { asset = "pump-1", sensor = "bearing_temp", register = 2, type = "int16", scale = 0.1, offset = -40.0, unit = "degC" },
  { asset = "pump-1", sensor = "current", register = 3, table = "input", type = "uint16", scale = 0.01, unit = "A" },
  { asset = "pump-1", sensor = "vel", register = 4, type = "int32", byte_order = "little", word_order = "little", scale = 0.001, unit = "mm/s" },
  { asset = "press-1", sensor = "speed", register = 6, table = "input", type = "uint32", word_order = "little", unit = "rpm" },
  { asset = "press-1", sensor = "pressure", register = 8, type = "float32", word_order = "little", unit = "psi" },
]
"""


def _spec(tmp: Path, endpoint: str, extra: str = "") -> object:
    text = f'[[sources]]\nid = "pump-plc"\nkind = "modbus"\nendpoint = "{endpoint}"\nunit_id = 1\npoll_ms = 100\n{extra}{TAGS}'
    (spec,) = plant(tmp, text).source_specs()
    return spec


def _load(server: ModbusEndpoint, spec: object) -> None:
    tags = {t.sensor: t for t in spec.tags}  # type: ignore[attr-defined]
    raw = {
        "flow": 123.5,
        "bearing_temp": 1025,
        "current": 1234,
        "vel": -2500,
        "speed": 70000,
        "pressure": 14.5038,
    }
    for sensor, value in raw.items():
        tag = tags[sensor]
        server.set(tag.table, tag.address, encode_registers(value, tag))


async def test_every_type_with_byte_and_word_order_scale_offset_and_unit(tmp_path: Path) -> None:
    server = ModbusEndpoint()
    await server.start()
    try:
        spec = _spec(tmp_path, server.url)
        _load(server, spec)
        samples = await ModbusSource(spec).read_once(10.0)  # type: ignore[arg-type]
        got = {s.sensor: s for s in samples}
        assert all(s.quality is Quality.GOOD for s in samples), samples
        assert got["flow"].value == pytest.approx(123.5)
        assert got["bearing_temp"].value == pytest.approx(62.5)  # 1025 * 0.1 - 40
        assert got["current"].value == pytest.approx(12.34)
        assert got["vel"].value == pytest.approx(-2.5)
        assert got["speed"].value == 70000.0
        assert (
            got["pressure"].value == pytest.approx(1.0, abs=1e-5) and got["pressure"].unit == "bar"
        )
    finally:
        await server.stop()


async def test_an_exception_faults_its_tag_only_and_a_dead_server_is_no_data_until_it_is_back(
    tmp_path: Path,
) -> None:
    server = ModbusEndpoint()
    port = server.port
    await server.start()
    spec = _spec(tmp_path, server.url, "reconnect_max_s = 1\n")
    _load(server, spec)
    got = Collected()
    try:
        async with running(ModbusSource(spec), got):  # type: ignore[arg-type]
            await wait_until(lambda: got.latest_is("flow", Quality.GOOD), "a first poll")
            server.failing[2] = 4  # bearing_temp's register: device failure
            await wait_until(
                lambda: got.latest_is("bearing_temp", Quality.BAD), "a Modbus exception"
            )
            assert "Modbus exception 4 (device failure)" in got.last("bearing_temp").reason
            n = len(got.of("flow"))
            await wait_until(lambda: len(got.of("flow")) > n + 2, "the other tags keep flowing")
            assert got.latest_is("flow", Quality.GOOD) and got.latest_is("current", Quality.GOOD)
            server.set("holding", 0, encode_registers(float("nan"), spec.tags[0]))  # type: ignore[attr-defined]
            await wait_until(lambda: got.latest_is("flow", Quality.BAD), "NaN in a float register")
            assert got.last("flow").reason == "value is NaN"
            await server.stop()
            await wait_until(
                lambda: got.latest_is("current", Quality.NO_DATA),
                "no data while the server is down",
            )
            assert "unreachable" in got.last("current").reason
            server = ModbusEndpoint(port)
            await server.start()
            _load(server, spec)
            await wait_until(
                lambda: got.latest_is("current", Quality.GOOD), "readings resume by themselves"
            )
    finally:
        await server.stop()


async def test_a_wrong_register_is_named(tmp_path: Path) -> None:
    server = ModbusEndpoint(size=20)
    await server.start()
    try:
        spec = _spec(tmp_path, server.url, "").tags  # type: ignore[attr-defined]
        text = TAGS.replace("register = 8,", "register = 500,")
        (bad,) = plant(
            tmp_path,
            f'[[sources]]\nid = "pump-plc"\nkind = "modbus"\nendpoint = "{server.url}"\n{text}',
        ).source_specs()
        samples = {s.sensor: s for s in await ModbusSource(bad).read_once(10.0)}  # type: ignore[arg-type]
        assert samples["pressure"].quality is Quality.BAD
        assert "holding register 500" in samples["pressure"].reason
        assert samples["flow"].quality is Quality.GOOD and spec
    finally:
        await server.stop()


async def test_stopping_a_source_mid_request_stops_it(tmp_path: Path) -> None:
    """pymodbus turns a cancellation inside a request into an I/O error: the source must still stop."""
    server = ModbusEndpoint()
    await server.start()
    try:
        spec = _spec(tmp_path, server.url).model_copy(update={"poll_ms": 0.001})  # type: ignore[attr-defined]
        _load(server, spec)
        for _ in range(5):
            got = Collected()
            task = asyncio.create_task(ModbusSource(spec).run(got))
            await wait_until(lambda: len(got.samples) > 20, "polling")  # noqa: B023
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=10)
            assert task in done, "the source kept running after it was cancelled"
    finally:
        await server.stop()
