"""Modbus TCP source (pymodbus): holding / input registers polled every ``poll_ms``.

Each tag reads its registers (1 for int16 / uint16, 2 for int32 / uint32 / float32), decoded with
the tag's byte order (within a register) and word order (register order), then ``value * scale +
offset`` in the delivered unit, converted to the sensor's. Modbus has no timestamps: the source
time is the time the poll started, the same for every tag of one poll. A Modbus exception (illegal address, device failure, ...) becomes a
"bad quality" fault on that tag only; a timeout or a lost connection makes every tag "no data" and
the source reconnects with back-off (1 s doubling to ``reconnect_max_s``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from datetime import datetime
from typing import Any

from agents.sources.base import (
    Clock,
    Emit,
    Quality,
    TagSample,
    cancelled_underneath,
    no_data,
    sample,
    utc_now,
)
from agents.sources.config import ModbusSourceSpec, ModbusTag

log = logging.getLogger(__name__)

EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}


def decode_registers(registers: list[int], tag: ModbusTag) -> float:
    """The number held in a tag's registers (byte order within words, then word order)."""
    words = list(registers[: tag.width])
    if tag.word_order == "little":
        words.reverse()
    raw = b"".join(
        w.to_bytes(2, "big") if tag.byte_order == "big" else w.to_bytes(2, "little") for w in words
    )
    fmt = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}[tag.type]
    return float(struct.unpack(fmt, raw)[0])


def encode_registers(value: float, tag: ModbusTag) -> list[int]:
    """The registers a device would hold for ``value`` (the inverse of ``decode_registers``)."""
    fmt = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}[tag.type]
    raw = struct.pack(fmt, value if tag.type == "float32" else int(round(value)))
    words = [
        int.from_bytes(raw[i : i + 2], "big" if tag.byte_order == "big" else "little")
        for i in range(0, len(raw), 2)
    ]
    if tag.word_order == "little":
        words.reverse()
    return words


class ModbusUnreachable(Exception):
    """The server did not answer (timeout, connection refused or lost)."""


class ModbusSource:
    """One Modbus TCP server (or gateway) and the registers it holds."""

    protocol = "modbus"

    def __init__(self, spec: ModbusSourceSpec, *, clock: Clock = utc_now) -> None:
        self.spec = spec
        self.clock = clock
        self.polls = 0

    @property
    def id(self) -> str:
        return self.spec.id

    def _client(self) -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        host, port = self.spec.host_port
        return AsyncModbusTcpClient(
            host, port=port, timeout=self.spec.timeout_s, retries=0, reconnect_delay=0
        )

    async def _read_tag(self, client: Any, tag: ModbusTag, at: datetime) -> TagSample:
        from pymodbus.exceptions import ModbusIOException

        unit = tag.unit_id if tag.unit_id is not None else self.spec.unit_id
        read = (
            client.read_holding_registers if tag.table == "holding" else client.read_input_registers
        )
        try:
            response = await read(tag.address, count=tag.width, device_id=unit)
        except (ModbusIOException, ConnectionError, TimeoutError) as exc:
            raise ModbusUnreachable(f"{type(exc).__name__}: {exc}"[:200]) from exc
        if response.isError():
            code = getattr(response, "exception_code", None)
            what = EXCEPTIONS.get(code, "unknown") if code is not None else str(response)
            return TagSample(
                self.id,
                tag.asset,
                tag.sensor,
                None,
                tag.sensor_unit,
                Quality.BAD,
                at,
                f"Modbus exception {code} ({what}) reading {tag.label()} of unit {unit}",
            )
        registers = list(getattr(response, "registers", []) or [])
        if len(registers) < tag.width:
            return TagSample(
                self.id,
                tag.asset,
                tag.sensor,
                None,
                tag.sensor_unit,
                Quality.BAD,
                at,
                f"{tag.label()}: {len(registers)} register(s) returned, {tag.width} expected",
            )
        value = decode_registers(registers, tag)
        if math.isnan(value) or math.isinf(value):
            return sample(self.id, tag, value, at)  # becomes "value is NaN" / "inf"
        return sample(self.id, tag, value, at, scale=tag.scale, offset=tag.offset)

    async def poll(self, client: Any) -> list[TagSample]:
        """Read every tag once on a connected client (``ModbusUnreachable`` if the server is gone)."""
        if not client.connected:
            raise ModbusUnreachable("not connected")
        at = self.clock()  # one time per poll: the agents get one reading per asset and poll
        out = [await self._read_tag(client, tag, at) for tag in self.spec.tags]
        self.polls += 1
        return out

    async def run(self, emit: Emit) -> None:
        backoff = min(1.0, self.spec.reconnect_max_s)
        host, port = self.spec.host_port
        while True:
            client = self._client()
            try:
                if not await client.connect():
                    raise ModbusUnreachable(f"cannot connect to {host}:{port}")
                log.info("source %s: connected to %s:%d", self.id, host, port)
                backoff = min(1.0, self.spec.reconnect_max_s)
                while True:
                    started = asyncio.get_running_loop().time()
                    samples = await self.poll(client)
                    cancelled_underneath()  # before emitting: a swallowed cancel reads as errors
                    for s in samples:
                        emit(s)
                    spent = asyncio.get_running_loop().time() - started
                    await asyncio.sleep(max(0.0, self.spec.interval_s - spent))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  supervisor loop: a dead server is data, not a crash
                cancelled_underneath(exc)
                reason = f"Modbus server {host}:{port} unreachable ({exc})"
                log.warning("source %s: %s; retrying in %.0f s", self.id, reason, backoff)
                now = self.clock()
                for tag in self.spec.tags:
                    emit(no_data(self.id, tag, now, reason))
            finally:
                client.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.spec.reconnect_max_s)

    async def read_once(self, timeout_s: float = 10.0) -> list[TagSample]:
        client = self._client()
        host, port = self.spec.host_port
        try:
            if not await asyncio.wait_for(client.connect(), timeout=timeout_s):
                raise ModbusUnreachable(f"cannot connect to {host}:{port}")
            return await asyncio.wait_for(self.poll(client), timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001  reported per tag
            now = self.clock()
            return [
                no_data(self.id, t, now, f"Modbus server {host}:{port}: {exc}")
                for t in self.spec.tags
            ]
        finally:
            client.close()


__all__ = ["ModbusSource", "decode_registers", "encode_registers"]
