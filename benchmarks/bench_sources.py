"""Readings per second through each source protocol into the agents, beside handing them directly.

    .venv/bin/python benchmarks/bench_sources.py [--assets 20] [--seconds 8] [--shard-size 5] [--json]

A plant of ``--assets`` presses with four scalar sensors each. For each protocol a loopback
server is started (asyncua's server, amqtt's broker with one Sparkplug B edge node, a pymodbus
server), a publisher changes every tag as fast as it can for ``--seconds``, and the whole path
runs as in the orchestrator: source -> ``SourceHub`` (assembler, store-and-forward buffer in
SQLite) -> ``AgentFleet.ingest`` on a local Ray (a fresh fleet per protocol). Printed per protocol:
tag samples per second received and readings per second delivered to the agents (one reading per
asset and source time: a machine's scan stamps its tags alike; Modbus, without timestamps, one per
poll), counted until the last one reached the agents. In the same run, the very readings that
arrived are handed to a fresh fleet directly, in the same batches (``ingest``): the difference is
what the protocol, the source, the assembler and the disk buffer cost.

Prints only; not a test (on a shared 2-core machine the figures vary by tens of percent).
Everything started here is stopped at the end; state lives in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.base import Reading
from agents.runtime.adapter import AgentFleet, connect_ray, disconnect_ray
from agents.simulator.endpoints import (
    HOST,
    ModbusEndpoint,
    MqttBroker,
    OpcUaEndpoint,
    SparkplugEdgeNode,
)
from agents.sources.buffer import ReadingBuffer
from agents.sources.config import ModbusTag
from agents.sources.hub import SourceHub
from agents.sources.modbus import encode_registers
from orchestrator.assets import asset_specs
from orchestrator.config import PlantConfig, parse_config

SENSORS = [
    ("oil_temp", "temperature", "degC", 40.0),
    ("pressure", "pressure", "bar", 120.0),
    ("motor_power", "power", "kW", 15.0),
    ("speed", "speed", "rpm", 1450.0),
]


FLOAT32 = ModbusTag(asset="-", sensor="-", register=0, type="float32")


def plant(n: int, source: dict[str, Any] | None) -> PlantConfig:
    machines = [
        {
            "id": f"press-{i}",
            "commissioning_readings": 20,
            "sensors": [{"name": s, "kind": k, "unit": u} for s, k, u, _ in SENSORS],
        }
        for i in range(n)
    ]
    return parse_config(
        {"site": "bench", "machines": machines, "sources": [source] if source else []}
    )


def tags(n: int, protocol: str) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        for j, (sensor, _, _, _) in enumerate(SENSORS):
            tag: dict[str, Any] = {"asset": f"press-{i}", "sensor": sensor}
            if protocol == "opcua":
                tag["node"] = f"ns=2;s=press-{i}.{sensor}"
            elif protocol == "mqtt":
                tag |= {"group": "bench", "node": "edge", "device": f"press-{i}", "metric": sensor}
            else:
                tag |= {"register": (i * len(SENSORS) + j) * 2, "type": "float32"}
            out.append(tag)
    return out


def value(j: int, k: int) -> float:
    return SENSORS[j][3] * (1.0 + 0.01 * math.sin(k * 0.7 + j))


async def drain(hub: SourceHub, fleet: AgentFleet, stop: asyncio.Event) -> list[list[Reading]]:
    """The loop's side: take from the buffer, ingest on Ray, acknowledge; returns the batches."""
    batches: list[list[Reading]] = []
    while True:
        upto, readings = hub.take()
        if readings:
            await asyncio.to_thread(fleet.ingest, readings)
            hub.done(upto)
            batches.append(readings)
        elif stop.is_set():
            return batches
        else:
            await asyncio.sleep(0.05)


async def through(
    protocol: str, n: int, seconds: float, shard: int, tmp: Path
) -> tuple[list[list[Reading]], dict[str, Any]]:
    server: Any
    if protocol == "opcua":
        server = OpcUaEndpoint()
        await server.start({f"press-{i}.{s}": v for i in range(n) for s, _, _, v in SENSORS})
        source = {"id": "bench-opcua", "kind": "opcua", "endpoint": server.url, "sampling_ms": 20}
    elif protocol == "mqtt":
        server = MqttBroker()
        await server.start()
        source = {"id": "bench-mqtt", "kind": "mqtt", "endpoint": server.url, "format": "sparkplug"}
    else:
        server = ModbusEndpoint(size=n * len(SENSORS) * 2 + 10)
        await server.start()
        source = {"id": "bench-modbus", "kind": "modbus", "endpoint": server.url, "poll_ms": 1}
    source["tags"] = tags(n, protocol)
    config = plant(n, source)
    fleet = await asyncio.to_thread(
        AgentFleet.start,
        asset_specs(config),
        shard_size=shard,
        namespace=f"bench-{protocol}-{uuid.uuid4().hex[:6]}",
        checkpoint_dir=tmp / f"checkpoints-{protocol}",
    )
    hub = SourceHub(
        config.source_specs(), ReadingBuffer(tmp / f"{protocol}.sqlite"), flush_every_s=0.1
    )
    stop = asyncio.Event()
    edge = None
    try:
        await hub.start()
        if protocol == "mqtt":
            edge = SparkplugEdgeNode(HOST, server.port, "bench", "edge")
            await asyncio.sleep(0.5)  # the source subscribes before the births
            await edge.connect()
            for i in range(n):
                await edge.birth(f"press-{i}", {s: v for s, _, _, v in SENSORS})
        drainer = asyncio.create_task(drain(hub, fleet, stop))
        started = time.perf_counter()
        k = 0
        while time.perf_counter() - started < seconds:
            k += 1
            for i in range(n):
                values = {s: value(j, k) for j, (s, _, _, _) in enumerate(SENSORS)}
                at = datetime.now(UTC)  # one scan of the machine: its tags share a time
                if protocol == "opcua":
                    for s, v in values.items():
                        await server.write(f"press-{i}.{s}", v, source_time=at)
                elif protocol == "mqtt":
                    assert edge is not None
                    await edge.data(f"press-{i}", values, at=at)
                else:
                    for j, (s, _, _, _) in enumerate(SENSORS):
                        server.set(
                            "holding",
                            (i * len(SENSORS) + j) * 2,
                            encode_registers(values[s], FLOAT32),
                        )
            await asyncio.sleep(0)
        await hub.stop()
        published = time.perf_counter() - started
        stop.set()
        batches = await drainer
        elapsed = time.perf_counter() - started  # until the last reading reached the agents
        delivered = sum(len(b) for b in batches)
        samples = sum(r["readings"] for r in hub.readings_by_source())
        return batches, {
            "protocol": protocol,
            "seconds": round(elapsed, 2),
            "tag_samples": samples,
            "tag_samples_per_s": round(samples / published, 1),
            "readings_to_agents": delivered,
            "readings_per_s": round(delivered / elapsed, 1),
        }
    finally:
        if edge is not None:
            await edge.close()
        await server.stop()
        await asyncio.to_thread(fleet.stop)


async def direct(
    protocol: str, n: int, batches: list[list[Reading]], shard: int, tmp: Path
) -> dict[str, Any]:
    """The very readings that went through ``protocol``, handed to a fresh fleet in the same batches."""
    config = plant(n, None)
    fleet = await asyncio.to_thread(
        AgentFleet.start,
        asset_specs(config),
        shard_size=shard,
        namespace=f"bench-direct-{uuid.uuid4().hex[:6]}",
        checkpoint_dir=tmp / f"checkpoints-direct-{protocol}",
    )
    try:
        started = time.perf_counter()
        for batch in batches:
            await asyncio.to_thread(fleet.ingest, batch)
        elapsed = time.perf_counter() - started
        count = sum(len(b) for b in batches)
        return {
            "protocol": f"  direct ({len(batches)} batches)",
            "seconds": round(elapsed, 2),
            "readings_to_agents": count,
            "readings_per_s": round(count / elapsed, 1),
        }
    finally:
        await asyncio.to_thread(fleet.stop)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--shard-size", type=int, default=5)
    parser.add_argument("--protocols", default="opcua,mqtt,modbus")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("asyncua", "amqtt", "pymodbus", "transitions"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    connect_ray(num_cpus=2, namespace="bench-sources", log_to_driver=False)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for protocol in args.protocols.split(","):
                batches, row = await through(
                    protocol, args.assets, args.seconds, args.shard_size, Path(tmp)
                )
                rows.append(row)
                rows.append(
                    await direct(protocol, args.assets, batches, args.shard_size, Path(tmp))
                )
    finally:
        with contextlib.suppress(Exception):
            disconnect_ray()
    if args.json:
        print(
            json.dumps(
                {"assets": args.assets, "sensors_per_asset": len(SENSORS), "rows": rows}, indent=2
            )
        )
        return
    print(
        f"{args.assets} assets x {len(SENSORS)} sensors, shard size {args.shard_size}, local Ray (2 CPUs)"
    )
    print(
        f"{'path':<28} {'tag samples/s':>14} {'readings/s to agents':>22} {'readings':>9} {'s':>6}"
    )
    for r in rows:
        print(
            f"{r['protocol']:<28} {r.get('tag_samples_per_s', '-')!s:>14} {r['readings_per_s']:>22} "
            f"{r['readings_to_agents']:>9} {r['seconds']:>6}"
        )


if __name__ == "__main__":
    asyncio.run(main())
