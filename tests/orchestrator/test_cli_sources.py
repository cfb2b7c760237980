"""`autoops sources check | browse` against servers the test starts on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from agents.simulator.endpoints import ModbusEndpoint, OpcUaEndpoint
from agents.sources.config import ModbusTag
from agents.sources.modbus import encode_registers
from tests.agents.sources.plant import write_plant

pytestmark = pytest.mark.integration


async def _autoops(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from orchestrator.cli import main; main()",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def _sources(
    opcua: str, modbus: str, *, node: str = "ns=2;s=press-1.oil_temp", register: int = 0
) -> str:
    return f"""\
[[sources]]
id = "press-opcua"
kind = "opcua"
endpoint = "{opcua}"
tags = [
  {{ asset = "press-1", sensor = "oil_temp", node = "{node}" }},
  {{ asset = "press-1", sensor = "pressure", node = "ns=2;s=press-1.pressure" }},
]

[[sources]]
id = "pump-modbus"
kind = "modbus"
endpoint = "{modbus}"
tags = [
  {{ asset = "pump-1", sensor = "flow", register = {register}, type = "float32" }},
]
"""


async def test_check_prints_every_tag_as_json_and_names_the_ones_it_cannot_read(
    tmp_path: Path,
) -> None:
    opcua = OpcUaEndpoint()
    await opcua.start({"press-1.oil_temp": 61.5, "press-1.pressure": 180.0})
    modbus = ModbusEndpoint(size=100)
    await modbus.start()
    flow = ModbusTag(asset="pump-1", sensor="flow", register=0, type="float32")
    modbus.set("holding", 0, encode_registers(133.0, flow))
    try:
        good = write_plant(tmp_path, _sources(opcua.url, modbus.url), name="commissioning.toml")
        code, out, err = await _autoops("sources", "check", "--config", str(good), "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["ok"] is True and doc["failed"] == []
        tags = {(t["asset"], t["sensor"]): t for t in doc["tags"]}
        assert tags[("press-1", "oil_temp")]["value"] == 61.5
        assert (
            tags[("press-1", "oil_temp")]["unit"] == "degC"
            and tags[("press-1", "oil_temp")]["quality"] == "good"
        )
        assert (
            tags[("press-1", "oil_temp")]["protocol"] == "opcua"
            and tags[("press-1", "oil_temp")]["source_time"]
        )
        assert (
            tags[("pump-1", "flow")]["value"] == 133.0
            and tags[("pump-1", "flow")]["protocol"] == "modbus"
        )
        assert doc["assets_without_source"] == []

        wrong = write_plant(
            tmp_path,
            _sources(opcua.url, modbus.url, node="ns=2;s=press-1.oil_tmp", register=500),
            name="wrong.toml",
        )
        code, out, err = await _autoops("sources", "check", "--config", str(wrong), "--json")
        assert code == 1
        doc = json.loads(out)
        assert doc["ok"] is False and len(doc["failed"]) == 2
        assert (
            "ns=2;s=press-1.oil_tmp" in err
            and "press-1.oil_temp" in err
            and "BadNodeIdUnknown" in err
        )
        assert "holding register 500" in err and "pump-1.flow" in err
        assert {(t["asset"], t["sensor"]) for t in doc["tags"] if t["ok"]} == {
            ("press-1", "pressure")
        }

        code, out, err = await _autoops("sources", "check", "--config", str(good))
        assert code == 0 and "press-1.oil_temp" in out.replace(" ", "") and "good" in out
    finally:
        await opcua.stop()
        await modbus.stop()


async def test_browse_lists_node_ids(tmp_path: Path) -> None:
    opcua = OpcUaEndpoint()
    await opcua.start({"press-1.oil_temp": 61.5})
    try:
        code, out, err = await _autoops("sources", "browse", opcua.url, "--json")
        assert code == 0, err
        nodes = {n["node"]: n for n in json.loads(out)["nodes"]}
        assert nodes["ns=2;s=press-1.oil_temp"]["value"] == 61.5
        code, out, err = await _autoops("sources", "browse", "http://nowhere")
        assert code == 2 and "not an OPC UA endpoint" in err
    finally:
        await opcua.stop()
