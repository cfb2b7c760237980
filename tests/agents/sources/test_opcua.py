"""OPC UA source against asyncua's own server on loopback, started and stopped by each test."""

from __future__ import annotations

import asyncio
import logging
import math
import tomllib
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from agents.machine import MachineAgent
from agents.machine_config import MachineAsset
from agents.models import FaultKind, Status
from agents.runtime.actor import _assess
from agents.simulator.endpoints import OpcUaEndpoint, make_certificate
from agents.sources.assembler import ReadingAssembler
from agents.sources.base import Quality
from agents.sources.opcua import OpcUaSource, browse
from tests.agents.sources.helpers import Collected, running, wait_until
from tests.agents.sources.plant import MACHINES, plant

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

TAGS = """\
tags = [
  { asset = "press-1", sensor = "oil_temp", node = "ns=2;s=press-1.oil_temp", unit = "degF" },
  { asset = "press-1", sensor = "pressure", node = "ns=2;s=press-1.pressure", unit = "kPa" },
  { asset = "press-1", sensor = "speed", node = "ns=2;s=press-1.speed", unit = "rpm" },
  { asset = "press-1", sensor = "load", node = "ns=2;s=press-1.load", unit = "%" },
  { asset = "press-1", sensor = "vel", node = "ns=2;s=press-1.vel", unit = "mm/s" },
  { asset = "press-1", sensor = "motor_power", node = "ns=2;s=press-1.motor_power", unit = "W" },
  { asset = "pump-1", sensor = "current", node = "ns=2;s=pump-1.current", unit = "A" },
  { asset = "pump-1", sensor = "flow", node = "ns=2;s=pump-1.flow", unit = "m3/h", deadband = 0.5 },
]
"""

VARIABLES = {
    "press-1.oil_temp": 104.0,
    "press-1.pressure": 12000.0,
    "press-1.speed": 1450,
    "press-1.load": 40,
    "press-1.vel": 2,
    "press-1.motor_power": 15000.0,
    "pump-1.current": 12,
    "pump-1.flow": 120.0,
}


def _spec(tmp: Path, endpoint: str, extra: str = "") -> object:
    text = f'[[sources]]\nid = "plc-opcua"\nkind = "opcua"\nendpoint = "{endpoint}"\nsampling_ms = 100\n{extra}{TAGS}'
    (spec,) = plant(tmp, text).source_specs()
    return spec


async def test_every_data_type_arrives_with_unit_scale_and_source_time(tmp_path: Path) -> None:
    server = OpcUaEndpoint()
    await server.start(VARIABLES)
    try:
        got = Collected()
        source = OpcUaSource(_spec(tmp_path, server.url))  # type: ignore[arg-type]
        async with running(source, got):
            await wait_until(
                lambda: len({s.sensor for s in got.samples}) == 8, "an initial value of every tag"
            )
            writes = [
                ("press-1.oil_temp", 212.0, "Double", 100.0),  # degF -> degC
                ("press-1.pressure", 25000.0, "Float", 250.0),  # kPa -> bar
                ("press-1.speed", 1500, "Int32", 1500.0),
                ("press-1.load", 55, "UInt16", 55.0),
                ("press-1.vel", -3, "Int16", -3.0),
                ("press-1.motor_power", 18000, "UInt32", 18.0),  # W -> kW
                ("pump-1.current", 2**33, "Int64", float(2**33)),
                ("pump-1.flow", 150.0, "Float", 150.0),
            ]
            for i, (name, value, variant, _) in enumerate(writes):
                await server.write(
                    name, value, variant=variant, source_time=T0 + timedelta(seconds=i)
                )
            for i, (name, _, _, expected) in enumerate(writes):
                asset, sensor = name.split(".")
                await wait_until(
                    partial(got.at, sensor, T0 + timedelta(seconds=i), asset),
                    f"{name} written at T0+{i}s",
                )
                s = next(
                    s for s in got.of(sensor, asset) if s.source_time == T0 + timedelta(seconds=i)
                )
                assert s.quality is Quality.GOOD and s.value == pytest.approx(expected), s
            assert got.last("oil_temp").unit == "degC" and got.last("motor_power").unit == "kW"
            # Boolean: a running flag is 1 / 0.
            await server.write(
                "press-1.load", True, variant="Boolean", source_time=T0 + timedelta(minutes=1)
            )
            await wait_until(
                lambda: got.has("load", lambda s: s.value == 1.0 and s.source_time.minute == 1),
                "a boolean",
            )
    finally:
        await server.stop()


async def test_bad_status_strings_and_nan_are_faults_of_their_tag_only(tmp_path: Path) -> None:
    server = OpcUaEndpoint()
    await server.start(VARIABLES)
    try:
        got = Collected()
        async with running(OpcUaSource(_spec(tmp_path, server.url)), got):  # type: ignore[arg-type]
            await wait_until(lambda: len({s.sensor for s in got.samples}) == 8, "initial values")
            await server.write(
                "press-1.pressure", 0.0, variant="Double", status="BadSensorFailure", source_time=T0
            )
            await wait_until(lambda: got.latest_is("pressure", Quality.BAD), "Bad status")
            assert "BadSensorFailure" in got.last("pressure").reason
            await server.write(
                "press-1.speed",
                1400,
                variant="Int32",
                status="UncertainLastUsableValue",
                source_time=T0,
            )
            await wait_until(lambda: got.latest_is("speed", Quality.UNCERTAIN), "Uncertain status")
            assert got.last("speed").value == 1400.0 and "Uncertain" in got.last("speed").reason
            await server.write("press-1.vel", "n/a", variant="String", source_time=T0)
            await wait_until(lambda: got.latest_is("vel", Quality.BAD), "a string")
            assert "type mismatch" in got.last("vel").reason
            await server.write("press-1.oil_temp", math.nan, variant="Double", source_time=T0)
            await wait_until(lambda: got.latest_is("oil_temp", Quality.BAD), "NaN")
            assert got.last("oil_temp").reason == "value is NaN"
            # The others keep flowing.
            await server.write(
                "press-1.load", 77, variant="UInt16", source_time=T0 + timedelta(seconds=5)
            )
            await wait_until(
                lambda: got.has("load", lambda s: s.value == 77.0 and s.quality is Quality.GOOD),
                "load",
            )
    finally:
        await server.stop()


def _press_agent() -> MachineAgent:
    press = tomllib.loads(MACHINES)["machines"][0]
    return MachineAgent(MachineAsset.model_validate({**press, "commissioning_readings": 5}))


@pytest.mark.slow
async def test_server_down_for_30_s_gives_no_data_faults_then_resumes_by_itself(
    tmp_path: Path,
) -> None:
    """The server stops for 30 s: every tag "no data", the machine not red; then back by itself."""
    server = OpcUaEndpoint()
    port = server.port
    await server.start(VARIABLES)
    got = Collected()
    asm = ReadingAssembler()
    agent = _press_agent()
    reports = []

    def emit(s):  # type: ignore[no-untyped-def]
        got(s)
        if s.asset_id == "press-1":
            asm.add(s)
            for r in asm.flush():
                reports.extend(_assess(agent, r))

    spec = _spec(tmp_path, server.url, "reconnect_max_s = 2\n")
    try:
        async with running(OpcUaSource(spec), emit):  # type: ignore[arg-type]
            await wait_until(lambda: len({s.sensor for s in got.samples}) == 8, "initial values")
            for i in range(12):
                # OPC UA reports changes: each value differs from the one before.
                await server.write(
                    "press-1.oil_temp",
                    110.0 + 0.5 * i,
                    variant="Double",
                    source_time=T0 + timedelta(seconds=i),
                )
                await wait_until(partial(got.at, "oil_temp", T0 + timedelta(seconds=i)), "a value")
            await server.stop()
            await wait_until(
                lambda: got.latest_is("pressure", Quality.NO_DATA), "no data after the stop"
            )
            await asyncio.sleep(30)  # the outage itself: the server is away for 30 s
            latest = reports[-1]
            faults = {f.sensor: f for f in latest.sensor_faults}
            assert {"oil_temp", "pressure", "speed"} <= set(faults)
            assert all(
                f.kind is FaultKind.NO_DATA and "unreachable" in f.detail for f in faults.values()
            )
            assert latest.status is not Status.RED
            server = OpcUaEndpoint(port)
            await server.start(VARIABLES)
            await server.write(
                "press-1.oil_temp", 110.0, variant="Double", source_time=T0 + timedelta(hours=1)
            )
            await wait_until(
                lambda: got.has(
                    "oil_temp",
                    lambda s: (
                        s.quality is Quality.GOOD and s.source_time == T0 + timedelta(hours=1)
                    ),
                ),
                "readings resume after the restart",
            )
            await wait_until(
                lambda: (
                    not reports[-1].sensor_faults
                    or "oil_temp" not in {f.sensor for f in reports[-1].sensor_faults}
                ),
                "fault cleared",
            )
    finally:
        await server.stop()


async def test_sign_and_encrypt_with_certificates_made_here_and_a_login_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server_cert, server_key = make_certificate(
        tmp_path / "pki", "server", "urn:autoops:twin:server"
    )
    client_cert, client_key = make_certificate(
        tmp_path / "pki", "client", "urn:autoops:test:client"
    )
    server = OpcUaEndpoint(
        certificate=server_cert,
        private_key=server_key,
        secure_only=True,
        users={"maint": "Tr0ub4dor&3"},
    )
    await server.start(VARIABLES)
    monkeypatch.setenv("T_OPCUA_USER", "maint")
    monkeypatch.setenv("T_OPCUA_PASSWORD", "Tr0ub4dor&3")
    security = (
        f'security = {{ mode = "SignAndEncrypt", policy = "Basic256Sha256", certificate = "{client_cert}", '
        f'private_key = "{client_key}" }}\nusername_env = "T_OPCUA_USER"\npassword_env = "T_OPCUA_PASSWORD"\n'
    )
    try:
        secure = OpcUaSource(_spec(tmp_path, server.url, security))  # type: ignore[arg-type]
        got = Collected()
        with caplog.at_level(logging.DEBUG):
            async with running(secure, got):
                await server.write("press-1.oil_temp", 212.0, variant="Double", source_time=T0)
                await wait_until(
                    lambda: got.has("oil_temp", lambda s: s.source_time == T0),
                    "a value over SignAndEncrypt",
                )
            assert got.last("oil_temp").value == pytest.approx(100.0)
            # Without security the server (SignAndEncrypt only) refuses: "no data", named.
            plain = await OpcUaSource(_spec(tmp_path, server.url)).read_once(10.0)  # type: ignore[arg-type]
            assert all(s.quality is Quality.NO_DATA for s in plain)
            monkeypatch.setenv("T_OPCUA_PASSWORD", "wrong-password-xyz")
            wrong = await OpcUaSource(_spec(tmp_path, server.url, security)).read_once(10.0)  # type: ignore[arg-type]
            assert all(s.quality is Quality.NO_DATA for s in wrong)
        assert "Tr0ub4dor" not in caplog.text and "wrong-password-xyz" not in caplog.text
        assert all("wrong-password" not in s.reason for s in wrong)
    finally:
        await server.stop()


async def test_browse_lists_the_node_ids_to_put_in_the_plant_file() -> None:
    server = OpcUaEndpoint()
    await server.start(VARIABLES)
    try:
        nodes = await browse(server.url)
        by_id = {n["node"]: n for n in nodes}
        assert by_id["ns=2;s=press-1.oil_temp"]["value"] == 104.0
        assert by_id["ns=2;s=press-1.oil_temp"]["path"] == "Objects/press-1/oil_temp"
        assert not any(n["path"].startswith("Objects/Server") for n in nodes)
    finally:
        await server.stop()


async def test_backfill_after_a_stop_delivers_every_missed_value_in_order_with_its_time(
    tmp_path: Path,
) -> None:
    """Store-and-forward across a stop of autoops: the hub's buffer remembers each tag's last
    source time, and the next start reads the server's history from there."""
    from agents.sources.buffer import ReadingBuffer
    from agents.sources.hub import SourceHub

    server = OpcUaEndpoint()
    await server.start(VARIABLES, history=True)
    text = (
        f'[[sources]]\nid = "plc-opcua"\nkind = "opcua"\nendpoint = "{server.url}"\n'
        'sampling_ms = 50\nbackfill = true\ntags = [\n'
        '  { asset = "press-1", sensor = "oil_temp", node = "ns=2;s=press-1.oil_temp", unit = "degF" },\n]\n'
    )
    specs = plant(tmp_path, text).source_specs()
    path = tmp_path / "state" / "sources.sqlite"
    written: list[datetime] = []

    async def produce(n: int) -> None:
        for _ in range(n):
            at = datetime.now(UTC).replace(microsecond=(len(written) * 1000) % 1_000_000)
            at = max(at, written[-1] + timedelta(milliseconds=1)) if written else at
            await server.write("press-1.oil_temp", 100.0 + len(written), source_time=at)
            written.append(at)
            await asyncio.sleep(0.02)

    try:
        hub = SourceHub(specs, ReadingBuffer(path), flush_every_s=0.1)
        await hub.start()
        await produce(10)
        await wait_until(lambda: hub.flush() is not None and hub.buffer.tag_times("plc-opcua").get(("press-1", "oil_temp")) == written[-1], "first values on disk")
        await hub.stop()
        hub.buffer.close()
        await produce(15)  # autoops is away: nobody reads these
        hub = SourceHub(specs, ReadingBuffer(path), flush_every_s=0.1)
        await hub.start()
        # ">=": a reconnect may re-report the current value with the server's own, later time.
        await wait_until(lambda: (hub.buffer.tag_times("plc-opcua").get(("press-1", "oil_temp")) or written[0]) >= written[-1], "back-filled")
        await hub.stop()
        times = [r.time for _, r in hub.buffer.peek(1000) if r.asset_id == "press-1"]
        assert [t for t in times if t in set(written)] == written  # every one, in order, none twice
        assert len(times) == len(set(times))
        hub.buffer.close()
    finally:
        await server.stop()
