"""The digital twin behind real protocols: the demo's plant as a plant engineer would connect it.

``TwinFeed`` starts, on 127.0.0.1 and free ports, an OPC UA server holding every machine's
sensors (``ns=2;s=<machine>.<sensor>``), an MQTT broker (amqtt, in process) to which two
Sparkplug B edge nodes publish — ``energy`` (one device per energy meter, plus ``plant`` for the
plant's production rate) and ``stores`` (one device per SKU: stock and on order) — and a Modbus
TCP server holding the compressor meters' registers (float32, big endian, two registers each).
``source_tables`` are the ``[[sources]]`` a plant file would hold for them.

Each tick the orchestrator asks ``publish`` to write the twin's readings for that tick to the
servers (OPC UA variables with the reading's time as source timestamp, Sparkplug DDATA with it as
metric timestamp, Modbus registers with the source hub's clock set to it: Modbus has no time of
its own) and to wait — bounded — until the hub has received every one of them through its
sources; then the hub assembles and buffers them and the loop takes them from the buffer as in
``autoops run``. So each tick's readings reach the agents whole, and the demo's outcomes stay
deterministic.

What cannot travel: the vibration waveforms (``spindle_acc``, 4096 samples per reading): sources
deliver numbers, one per tag. ``complete`` puts each waveform back on the reading of its asset and
time that came through OPC UA (``direct`` names them).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from agents.base import Reading
from agents.simulator.endpoints import (
    HOST,
    ModbusEndpoint,
    MqttBroker,
    OpcUaEndpoint,
    SparkplugEdgeNode,
)
from agents.sources.base import TagSample

log = logging.getLogger(__name__)

OPCUA_ID, MQTT_ID, MODBUS_ID = "twin-opcua", "twin-mqtt", "twin-modbus"
GROUP = "autoops"
#: Units the twin's energy values are in (a meter's flow and pressure declare none).
_UNITS = {"power": "kW", "flow": "m3/min", "pressure": "bar"}


class TwinFeed:
    def __init__(
        self,
        machines: Iterable[str],
        stock: Iterable[str],
        energy: Mapping[str, Sequence[str]],
        compressors: Iterable[str],
        *,
        wait_s: float = 120.0,
        poll_ms: float = 20.0,
    ) -> None:
        """``machines`` / ``stock``: asset ids; ``energy``: energy system id -> its value names
        (``<meter>.<field>`` or a plant-wide field); ``compressors``: meter ids read over Modbus."""
        self.machines = list(machines)
        self.stock = list(stock)
        self.energy = {k: list(v) for k, v in energy.items()}
        self.compressors = set(compressors)
        self.wait_s = wait_s
        self.poll_ms = poll_ms
        self.opcua = OpcUaEndpoint()
        self.broker = MqttBroker()
        self.modbus = ModbusEndpoint()
        self.edges: dict[str, SparkplugEdgeNode] = {}
        self.now = datetime.fromtimestamp(0, tz=UTC)  # the hub's clock: time of the tick published
        self.hub: Any = None
        self._opcua_sensors: dict[str, list[str]] = {}
        self._registers: dict[tuple[str, str], int] = {}  # (asset, value name) -> first register
        self._sparkplug: dict[tuple[str, str], tuple[str, str, str]] = {}  # -> (node, device, metric)
        self._published: dict[str, float] = {}  # OPC UA node name -> last value written
        self._arrived: set[tuple[str, str, str, datetime, float]] = set()
        self._heard: set[tuple[str, str, str]] = set()
        self._waveforms: dict[tuple[str, datetime], Mapping[str, Any]] = {}
        self.direct: set[str] = set()  # "<asset>.<sensor>" handed to the agents directly
        self.waits = 0
        self.late_ticks = 0

    # ---- layout ------------------------------------------------------------------------------
    @classmethod
    def for_plant(cls, config: Any, **kwargs: Any) -> TwinFeed:
        """The feed of a plant file with a ``[simulation]``: its value names from one scratch tick."""
        from agents.simulator.plant import PlantSim, SimulationSpec
        from orchestrator.assets import inventory_items

        sim = PlantSim(SimulationSpec.model_validate(config.simulation), inventory_items(config))
        names: dict[str, set[str]] = {}
        for reading in sim.tick():
            names.setdefault(reading.asset_id, set()).update(reading.values)
        machines = [str(m["id"]) for m in config.machines if str(m["id"]) in names]
        stock = [str(i["sku"]) for i in config.inventory if str(i["sku"]) in names]
        energy = {
            str(e["system_id"]): sorted(names[str(e["system_id"])])
            for e in config.energy
            if str(e["system_id"]) in names
        }
        compressors = [
            str(m["meter_id"])
            for e in config.energy
            for m in e.get("meters", ())
            if m.get("kind") == "compressor"
        ]
        feed = cls(machines, stock, energy, compressors, **kwargs)
        for m in config.machines:
            if str(m["id"]) in names:
                feed._opcua_sensors[str(m["id"])] = [
                    str(s["name"]) for s in m.get("sensors", ()) if s["name"] in names[str(m["id"])]
                ]
        return feed

    def _layout(self) -> None:
        register = 0
        for system, value_names in self.energy.items():
            for name in value_names:
                meter, _, field = name.rpartition(".")
                if meter in self.compressors:
                    self._registers[(system, name)] = register
                    register += 2
                else:
                    self._sparkplug[(system, name)] = ("energy", meter or "plant", field)
        for sku in self.stock:
            for name in ("stock", "on_order"):
                self._sparkplug[(sku, name)] = ("stores", sku, name)

    # ---- servers -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the three servers (every one on 127.0.0.1) and the Sparkplug edge nodes."""
        self._layout()
        variables = {
            f"{asset}.{sensor}": 0.0
            for asset, sensors in self._opcua_sensors.items()
            for sensor in sensors
        }
        await self.opcua.start(variables)
        self._published = dict(variables)
        await self.broker.start()
        await self.modbus.start()
        for node in sorted({n for n, _, _ in self._sparkplug.values()}):
            edge = SparkplugEdgeNode(HOST, self.broker.port, GROUP, node)
            await edge.connect()
            self.edges[node] = edge

    async def stop(self) -> None:
        for edge in self.edges.values():
            await edge.close()
        self.edges = {}
        for server in (self.modbus, self.broker, self.opcua):
            try:
                await asyncio.wait_for(server.stop(), timeout=10)
            except Exception as exc:  # noqa: BLE001  the others still stop
                log.warning("twin feed: stopping %s: %s", type(server).__name__, exc)

    def source_tables(self) -> list[dict[str, Any]]:
        """The ``[[sources]]`` tables for the three servers (fast sampling: a tick is short)."""
        opcua_tags = [
            {"asset": asset, "sensor": sensor, "node": self.opcua.node(f"{asset}.{sensor}")}
            for asset, sensors in self._opcua_sensors.items()
            for sensor in sensors
        ]
        mqtt_tags = [
            {"asset": asset, "sensor": name, "group": GROUP, "node": node, "device": device,
             "metric": metric}
            for (asset, name), (node, device, metric) in self._sparkplug.items()
        ]
        modbus_tags = [
            {"asset": asset, "sensor": name, "register": reg, "type": "float32",
             "unit": _UNITS.get(name.rpartition(".")[2], "")}
            for (asset, name), reg in self._registers.items()
        ]
        tables: list[dict[str, Any]] = []
        if opcua_tags:
            tables.append({"id": OPCUA_ID, "kind": "opcua", "endpoint": self.opcua.url,
                           "sampling_ms": self.poll_ms, "queue_size": 50, "tags": opcua_tags})
        if mqtt_tags:
            tables.append({"id": MQTT_ID, "kind": "mqtt", "format": "sparkplug",
                           "endpoint": self.broker.url, "qos": 1, "tags": mqtt_tags})
        if modbus_tags:
            tables.append({"id": MODBUS_ID, "kind": "modbus", "endpoint": self.modbus.url,
                           "poll_ms": self.poll_ms, "tags": modbus_tags})
        return tables

    # ---- the hub's side ----------------------------------------------------------------------
    def clock(self) -> datetime:
        return self.now

    def attach(self, hub: Any, now: datetime) -> None:
        """Listen to the hub's samples; ``now``: the simulation's time before its next tick."""
        self.hub = hub
        self.now = now
        hub.listeners.append(self._on_sample)

    def _on_sample(self, s: TagSample) -> None:
        self._heard.add((s.source_id, s.asset_id, s.sensor))
        if s.value is not None:
            self._arrived.add((s.source_id, s.asset_id, s.sensor, s.source_time, s.value))

    async def _until(self, done: Any, what: str) -> bool:
        deadline = time.monotonic() + self.wait_s
        while not done():
            if time.monotonic() > deadline:
                log.warning("twin feed: %s not complete after %.0f s; going on", what, self.wait_s)
                return False
            await asyncio.sleep(0.002)
        return True

    async def prime(self) -> None:
        """Wait until every source delivers (the servers' initial values, Sparkplug births),
        then drop those: they are no reading of the twin's."""
        assert self.hub is not None
        expected = {(spec.id, t.asset, t.sensor) for spec in self.hub.specs for t in spec.tags}
        births: dict[tuple[str, str], dict[str, float]] = {}
        for (_, _), (node, device, metric) in self._sparkplug.items():
            births.setdefault((node, device), {})[metric] = 0.0
        deadline = time.monotonic() + self.wait_s
        while not expected <= self._heard and time.monotonic() < deadline:
            # A birth before the source subscribed is lost: born again until it is heard.
            for (node, device), values in births.items():
                await self.edges[node].birth(device, values, at=self.now)
            await asyncio.sleep(0.1)
        if not expected <= self._heard:
            log.warning("twin feed: never heard %s", sorted(expected - self._heard)[:5])
        self.hub.discard()
        self._arrived.clear()

    async def publish(self, readings: Sequence[Reading], now: datetime) -> None:
        """Write one tick's readings to the servers; return once the hub received them all,
        each with the value written."""
        assert self.hub is not None
        self.hub.discard()  # between ticks the twin said nothing new (Modbus polls repeat)
        self._arrived.clear()
        expected: set[tuple[str, str, str, datetime, float]] = set()
        while len(self._waveforms) > 200:  # the last few ticks' (a re-delivered reading's too)
            self._waveforms.pop(next(iter(self._waveforms)))
        registers: dict[datetime, dict[tuple[str, str], float]] = {}
        for r in readings:
            if r.waveforms:
                self._waveforms[(r.asset_id, r.time)] = r.waveforms
                self.direct.update(f"{r.asset_id}.{w}" for w in r.waveforms)
            if r.asset_id in self._opcua_sensors:
                for sensor in self._opcua_sensors[r.asset_id]:
                    if sensor not in r.values:
                        continue
                    name, value = f"{r.asset_id}.{sensor}", float(r.values[sensor])
                    if self._published.get(name) != value:  # OPC UA reports changes only
                        await self.opcua.write(name, value, source_time=r.time)
                        self._published[name] = value
                        expected.add((OPCUA_ID, r.asset_id, sensor, r.time, value))
            by_device: dict[tuple[str, str], dict[str, float]] = {}
            for name, value in r.values.items():
                if (r.asset_id, name) in self._sparkplug:
                    node, device, metric = self._sparkplug[(r.asset_id, name)]
                    by_device.setdefault((node, device), {})[metric] = float(value)
                    expected.add((MQTT_ID, r.asset_id, name, r.time, float(value)))
                elif (r.asset_id, name) in self._registers:
                    registers.setdefault(r.time, {})[(r.asset_id, name)] = float(value)
            for (node, device), values in by_device.items():
                await self.edges[node].data(device, values, at=r.time)
        self.waits += 1
        late = False
        for at in sorted(registers):
            # Modbus has no timestamps: the source stamps a poll with the hub's clock when the
            # poll starts. Registers and clock change together (no await between), one reading
            # time after the other, so a poll's values and time agree.
            step: set[tuple[str, str, str, datetime, float]] = set()
            for (asset, name), value in registers[at].items():
                packed = struct.pack(">f", value)
                self.modbus.set("holding", self._registers[(asset, name)], struct.unpack(">HH", packed))
                step.add((MODBUS_ID, asset, name, at, struct.unpack(">f", packed)[0]))
            self.now = at
            late |= not await self._until(lambda s=step: s <= self._arrived, f"Modbus at {at.isoformat()}")
        self.now = max(now, self.now)
        late |= not await self._until(lambda: expected <= self._arrived, f"tick at {now.isoformat()}")
        if late:
            self.late_ticks += 1
        self.hub.flush()

    def complete(self, readings: Sequence[Reading]) -> list[Reading]:
        """Put back the waveforms that cannot travel as tag values, by asset and time."""
        out = []
        for r in readings:
            waves = self._waveforms.get((r.asset_id, r.time))
            out.append(replace(r, waveforms={**r.waveforms, **waves}) if waves else r)
        return out


__all__ = ["MODBUS_ID", "MQTT_ID", "OPCUA_ID", "TwinFeed"]
