"""The one small interface every source speaks: tag samples out, each with its quality.

A source (OPC UA, MQTT, Modbus TCP, ...) reads tags from machines and hands each value it gets,
or fails to get, to ``emit`` as a ``TagSample``: the asset and sensor it feeds, the value in the
sensor's unit, the quality (good, uncertain, bad, no data), the source's own timestamp and, when
the value cannot be believed, the reason. A source never raises for bad data or a dead server:
those become samples of bad quality, and the source keeps going (reconnecting with back-off).
The loop never sees which protocol a sample came from: ``agents/sources/assembler.py`` turns
samples into the agents' ``Reading`` objects, bad ones into sensor faults.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from agents.models import FaultKind


class Quality(StrEnum):
    """OPC UA's three qualities, plus "no data" when nothing arrived at all."""

    GOOD = "good"
    UNCERTAIN = "uncertain"  # passed on to the agent; the reason is kept for `sources check`
    BAD = "bad"
    NO_DATA = "no_data"

    @property
    def usable(self) -> bool:
        return self in (Quality.GOOD, Quality.UNCERTAIN)

    @property
    def fault_kind(self) -> FaultKind | None:
        """The sensor fault a sample of this quality becomes (None: the value is used)."""
        return {Quality.BAD: FaultKind.BAD_QUALITY, Quality.NO_DATA: FaultKind.NO_DATA}.get(self)


@dataclass(frozen=True, slots=True)
class TagSample:
    """One value of one tag, or the reason there is none."""

    source_id: str
    asset_id: str
    sensor: str
    value: float | None
    unit: str
    quality: Quality
    source_time: datetime
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source_id,
            "asset": self.asset_id,
            "sensor": self.sensor,
            "value": self.value,
            "unit": self.unit,
            "quality": self.quality.value,
            "source_time": self.source_time.isoformat(),
            "reason": self.reason,
        }


Emit = Callable[[TagSample], None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Source(Protocol):
    """A connection to one server, broker or device, and the tags it feeds."""

    @property
    def id(self) -> str: ...

    @property
    def protocol(self) -> str:
        """ "opcua" | "mqtt" | "modbus"."""
        ...

    async def run(self, emit: Emit) -> None:
        """Read until cancelled; reconnect with back-off; never raise for bad data or a dead peer."""
        ...

    async def read_once(self, timeout_s: float) -> list[TagSample]:
        """Connect, read every mapped tag once, disconnect (``autoops sources check``)."""
        ...


def cancelled_underneath(exc: BaseException | None = None) -> None:
    """Re-raise a cancellation that a protocol library swallowed or turned into its own error.

    pymodbus catches ``CancelledError`` inside a pending request and answers with an error
    instead; a supervisor loop that treats every error as "server down, retry" would then never
    stop. Called first in each source's catch-all and after each poll."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from exc


def coerce(raw: Any) -> tuple[float | None, str]:
    """A number from what a tag delivered, else the reason it is not one.

    Booleans count as 0 / 1 (a running flag); strings, lists, None, NaN and infinities do not.
    """
    if isinstance(raw, bool):
        return float(raw), ""
    if isinstance(raw, int | float):
        value = float(raw)
        if math.isnan(value):
            return None, "value is NaN"
        if math.isinf(value):
            return None, f"value is {value}"
        return value, ""
    if raw is None:
        return None, "null value"
    if isinstance(raw, str):
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        return None, f"type mismatch: string {shown!r} where a number belongs"
    return None, f"type mismatch: {type(raw).__name__} where a number belongs"


def sample(
    source_id: str,
    tag: Any,
    raw: Any,
    source_time: datetime,
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    quality: Quality = Quality.GOOD,
    reason: str = "",
) -> TagSample:
    """The sample of ``tag`` (anything with asset, sensor, unit and ``convert``) for a raw value."""
    value: float | None = None
    if quality.usable:
        value, why = coerce(raw)
        if value is None:
            quality, reason = Quality.BAD, why
        else:
            value = tag.convert(value * scale + offset)
    return TagSample(
        source_id, tag.asset, tag.sensor, value, tag.sensor_unit, quality, source_time, reason
    )


def no_data(source_id: str, tag: Any, at: datetime, reason: str) -> TagSample:
    return TagSample(
        source_id, tag.asset, tag.sensor, None, tag.sensor_unit, Quality.NO_DATA, at, reason
    )


__all__ = [
    "Clock",
    "Emit",
    "Quality",
    "Source",
    "TagSample",
    "cancelled_underneath",
    "coerce",
    "no_data",
    "sample",
    "utc_now",
]
