"""The README's "connect your first machine" guide, followed literally.

The plant file is the README's own (ports and state directory put where this test runs); no
simulation. The test starts the OPC UA server and the Modbus TCP server the plant file points at,
feeds them changing values, runs ``autoops run`` and reads the board, in the web UI and in the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from agents.runtime.checkpoint import FileCheckpointStore
from agents.simulator.endpoints import ModbusEndpoint, OpcUaEndpoint
from agents.sources.config import ModbusTag
from agents.sources.modbus import encode_registers
from orchestrator.passwords import hash_password
from tests.orchestrator.demo_run import AUTOOPS, REPO, demo_env, kill_group

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "guide-test-password"


def guide_plant() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- guide:plant -->", 1)[1].split("```toml", 1)[1].split("```", 1)[0]
    return "\n".join(line[3:] if line.startswith("   ") else line for line in block.splitlines())


async def _feed(opcua: OpcUaEndpoint, modbus: ModbusEndpoint, stop: asyncio.Event) -> None:
    """The machines at work: values that move, as a running pump and press do."""
    oil = ModbusTag(asset="press-1", sensor="oil_temp", register=0, type="int16")
    pressure = ModbusTag(asset="press-1", sensor="pressure", register=1, type="float32", word_order="little")
    k = 0
    while not stop.is_set():
        k += 1
        now = datetime.now(UTC)
        await opcua.write("pump-1.bearing_temp", 45.0 + math.sin(k / 5), source_time=now)
        await opcua.write("pump-1.vel", 1.8 + 0.2 * math.sin(k / 3), source_time=now)
        modbus.set("holding", 0, encode_registers(round(10 * (52.0 + math.cos(k / 4))), oil))
        modbus.set("holding", 1, encode_registers(2900.0 + 30 * math.sin(k / 6), pressure))  # psi
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.25)


async def test_the_readme_guide_a_plant_of_its_own_live_on_the_board(tmp_path: Path) -> None:
    opcua = OpcUaEndpoint()
    modbus = ModbusEndpoint()
    await opcua.start({"pump-1.bearing_temp": 45.0, "pump-1.vel": 1.8})
    await modbus.start()
    text = guide_plant()
    assert "[simulation]" not in text
    text = text.replace("opc.tcp://127.0.0.1:4840/autoops/", opcua.url)
    text = text.replace("modbus://127.0.0.1:5020", modbus.url)
    text = text.replace('state_dir = ".autoops-my-plant"', f'state_dir = "{tmp_path / "state"}"')
    text = re.sub(r'password_hash = ".*"', f'password_hash = "{hash_password(PASSWORD)}"', text)
    plant = tmp_path / "my-plant.toml"
    plant.write_text(text, encoding="utf-8")

    stop = asyncio.Event()
    feeder = asyncio.create_task(_feed(opcua, modbus, stop))
    env = demo_env(tmp_path / "state")
    process = subprocess.Popen(
        [str(AUTOOPS), "run", "--config", str(plant), "--tick", "0.5"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    try:
        deadline = time.monotonic() + 240
        url = None
        while url is None and time.monotonic() < deadline:
            found = next((m for line in list(lines) if (m := re.search(r"web UI (http://\S+?)/? ", line))), None)
            url = found.group(1) if found else None
            if process.poll() is not None:
                raise AssertionError("autoops run exited:\n" + "".join(lines)[-4000:])
            await asyncio.sleep(0.5)
        assert url, "".join(lines)[-4000:]
        out = "".join(lines)
        assert "source pump-opcua: opcua" in out and "source press-modbus: modbus" in out
        assert "has no data source" not in out

        async with httpx.AsyncClient(base_url=url, timeout=10) as web:
            login = await web.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
            await web.post("/login", data={"username": "eng", "password": PASSWORD, "csrf_token": csrf})
            tiles: dict[str, dict] = {}
            while time.monotonic() < deadline:
                board = await web.get("/api/board")
                assert board.status_code == 200, board.text
                tiles = {t["asset_id"]: t for t in board.json()}
                live = [
                    t
                    for t in tiles.values()
                    if t.get("last_report_at") and t["status"] in ("green", "amber", "red")
                ]
                # The very first reading may precede a sensor's first value ("dropout" until it
                # comes): wait for the settled board a person would see a moment later.
                if len(live) == 2 and not any(t["sensor_faults"] for t in live):
                    break
                await asyncio.sleep(1.0)
            assert {a for a, t in tiles.items() if t.get("last_report_at")} == {"pump-1", "press-1"}, (tiles, "".join(lines)[-3000:])
            assert all(t["status"] != "red" and not t["sensor_faults"] for t in tiles.values()), [
                (t["asset_id"], t["status"], t["summary"], t["sensor_faults"]) for t in tiles.values()
            ]
            page = await web.get("/board")
            assert "pump-1" in page.text and "press-1" in page.text and "No asset has reported yet" not in page.text
        # The embedded reference MES serves this plant's own machines.
        assert "unknown machine" not in "".join(lines), "".join(lines)[-3000:]
        process.terminate()
        await asyncio.to_thread(process.wait, 120)
    finally:
        stop.set()
        await feeder
        kill_group(process, env)
        await opcua.stop()
        await modbus.stop()


def _start(plant: Path, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [str(AUTOOPS), "run", "--config", str(plant), "--tick", "0.5"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    return process, lines


def _tag_time_kept(state: Path) -> bool:
    import sqlite3

    path = state / "sources.sqlite"
    if not path.exists():
        return False
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            return bool(db.execute("SELECT COUNT(*) FROM tag_times").fetchone()[0])
        except sqlite3.OperationalError:  # the table is being created
            return False


def _assessed(state: Path) -> tuple[int, str | None]:
    """(readings press-1's agent assessed, time of the last one), from its checkpoint."""
    store = FileCheckpointStore(state / "checkpoints")
    path = store.path_for("agent:press-1")
    if not path.exists():
        return 0, None
    record = json.loads(path.read_text())
    latest = record.get("latest") or []
    return (latest[0]["seq"] + 1 if latest else 0), record.get("last_time")


async def test_sigkill_while_the_server_keeps_producing_loses_nothing(tmp_path: Path) -> None:
    """The orchestrator is killed (SIGKILL) while the OPC UA server keeps producing; after the
    restart every value produced meanwhile reaches the agent, in order, none twice (counted)."""
    server = OpcUaEndpoint()
    await server.start({"press-1.oil_temp": 50.0}, history=True)
    state = tmp_path / "state"
    plant = tmp_path / "plant.toml"
    plant.write_text(
        f'site = "kill-test"\nstate_dir = "{state}"\n\n[[machines]]\nid = "press-1"\nsensors = [\n'
        '  { name = "oil_temp", kind = "temperature", unit = "degC", min = -20.0, max = 150.0 },\n]\n\n'
        f'[[sources]]\nid = "press-opcua"\nkind = "opcua"\nendpoint = "{server.url}"\n'
        'sampling_ms = 50\nbackfill = true\ntags = [\n'
        '  { asset = "press-1", sensor = "oil_temp", node = "ns=2;s=press-1.oil_temp" },\n]\n',
        encoding="utf-8",
    )
    written: list[datetime] = []

    async def produce(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            at = datetime.now(UTC)
            # Every write changes the value (OPC UA reports changes, not repeated values).
            await server.write("press-1.oil_temp", 60.0 + 0.1 * (len(written) % 50) + 0.001 * len(written), source_time=at)
            written.append(at)
            await asyncio.sleep(0.1)

    env = demo_env(state)
    process, lines = _start(plant, env, tmp_path)
    try:
        deadline = time.monotonic() + 240
        while not any("web UI" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)[-4000:]
            await asyncio.sleep(0.5)
        # The source is subscribed once the initial value is on disk (its tag time is kept).
        while not _tag_time_kept(state):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)[-4000:]
            await asyncio.sleep(0.2)
        await produce(6)  # the orchestrator reads these live
        kill_group(process, env)  # SIGKILL: no stop, no flush, no checkpoint
        down_from = len(written)
        await produce(3)  # the server keeps producing while autoops is down
        assert len(written) - down_from >= 15

        process, lines = _start(plant, env, tmp_path)
        while not any("web UI" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)[-4000:]
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # back-fill and the buffer drain, then a clean stop checkpoints
        process.terminate()
        await asyncio.to_thread(process.wait, 120)
        count, last = _assessed(state)
        record = json.loads(FileCheckpointStore(state / "checkpoints").path_for("agent:press-1").read_text())
        # The agent's own record of the intervals between the readings it assessed (its last 50):
        # they cover the live values before the kill, the kill and the whole downtime, and must be
        # exactly the intervals between the values the server produced: every one arrived, in
        # order, none twice (a re-delivery would add a zero interval, a loss a double one).
        produced = [round((b - a).total_seconds(), 6) for a, b in zip(written, written[1:], strict=False)]
        seen = [round(x, 6) for x in record["snapshot"]["monitor"]["intervals"]]
        assert seen == produced[-len(seen):], (seen, produced[-len(seen):])
        assert last is not None and datetime.fromisoformat(last) == written[-1], (last, written[-1])
        # And in total: the initial value and every value written, each assessed exactly once.
        assert count == 1 + len(written), (count, len(written))
    finally:
        kill_group(process, env)
        await server.stop()
