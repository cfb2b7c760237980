"""MQTT source (aiomqtt): plain JSON payloads or Sparkplug B, QoS 1, TLS, credentials from env.

JSON: each tag names a topic and a dotted path into the payload (``data.temp``, ``values.0``),
optionally a ``time_path`` (epoch seconds or milliseconds, or ISO 8601); without one the time of
arrival is the source time. A payload that is not JSON, a missing field, a string where a number
belongs, NaN: a "bad quality" fault on that tag, with the reason; the other tags keep flowing.

Sparkplug B (``agents/sources/sparkplug.py``): NBIRTH / DBIRTH declare each metric's name and
alias and carry its current value; NDATA / DDATA carry values by alias (or name) with the metric's
timestamp; DDEATH makes the device's tags "no data", NDEATH every device of the node (the edge
node's will message, sent by the broker when the node drops off). Data for a metric whose birth
was not seen is used only if it carries its name.

The source subscribes with QoS 1 (at least once; the agents drop a re-delivered reading by asset
and time). With a fixed ``client_id`` the session is persistent: the broker queues QoS 1
messages while autoops is away. A lost connection makes every tag "no data"; the source
reconnects with back-off (1 s doubling to ``reconnect_max_s``). With ``expect_every_s`` a tag silent for
``stale_after`` periods is "no data" too (``SourceHub`` checks it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from agents.sources import sparkplug
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
from agents.sources.config import MqttSourceSpec, MqttTag

log = logging.getLogger(__name__)


def _path(doc: Any, path: str) -> Any:
    node = doc
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


def _time(raw: Any) -> datetime:
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(raw, int | float):
        seconds = raw / 1000.0 if raw > 1e11 else float(raw)  # ms since the epoch vs seconds
        return datetime.fromtimestamp(seconds, tz=UTC)
    stamp = datetime.fromisoformat(str(raw))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _ms(ms: int | None, fallback: datetime) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC) if ms else fallback


class MqttSource:
    """One MQTT broker and the topics / Sparkplug metrics it carries."""

    protocol = "mqtt"

    def __init__(self, spec: MqttSourceSpec, *, clock: Clock = utc_now) -> None:
        self.spec = spec
        self.clock = clock
        self.connected = asyncio.Event()
        self.by_topic: dict[str, list[MqttTag]] = defaultdict(list)
        # Sparkplug: (group, node, device or None) -> metric name -> tags
        self.by_metric: dict[tuple[str, str, str | None], dict[str, list[MqttTag]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for tag in spec.tags:
            if spec.format == "sparkplug":
                self.by_metric[(tag.group or "", tag.node or "", tag.device)][
                    tag.metric or ""
                ].append(tag)
            else:
                self.by_topic[tag.topic or ""].append(tag)
        self.aliases: dict[tuple[str, str, str | None], dict[int, str]] = defaultdict(dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def subscriptions(self) -> list[str]:
        if self.spec.format == "sparkplug":
            groups = sorted({g for g, _, _ in self.by_metric})
            return [f"{sparkplug.NAMESPACE}/{g}/#" for g in groups]
        return sorted(self.by_topic)

    # ---- payloads -> samples ---------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, emit: Emit) -> None:
        """Turn one message into samples (never raises: bad payloads are bad-quality samples)."""
        arrived = self.clock()
        if self.spec.format == "sparkplug":
            self._sparkplug(topic, payload, arrived, emit)
            return
        tags = self.by_topic.get(topic, [])
        if not tags:
            return
        try:
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = f"payload on {topic} is not JSON ({str(exc)[:60]})"
            for tag in tags:
                emit(self._bad(tag, arrived, reason))
            return
        for tag in tags:
            try:
                raw = _path(doc, tag.path or "")
            except (KeyError, TypeError):
                emit(self._bad(tag, arrived, f"payload on {topic} has no field {tag.path!r}"))
                continue
            at = arrived
            if tag.time_path:
                try:
                    at = _time(_path(doc, tag.time_path))
                except (KeyError, TypeError, ValueError, OverflowError, OSError):
                    emit(
                        self._bad(
                            tag,
                            arrived,
                            f"payload on {topic}: unreadable time at {tag.time_path!r}",
                        )
                    )
                    continue
            emit(sample(self.id, tag, raw, at))

    def _bad(self, tag: MqttTag, at: datetime, reason: str) -> TagSample:
        return TagSample(
            self.id, tag.asset, tag.sensor, None, tag.sensor_unit, Quality.BAD, at, reason
        )

    def _sparkplug(self, topic: str, payload: bytes, arrived: datetime, emit: Emit) -> None:
        t = sparkplug.parse_topic(topic)
        if t is None:
            return
        if t.message == "NDEATH":
            for (group, node, device), metrics in self.by_metric.items():
                if (group, node) == (t.group, t.node):
                    self.aliases.pop((group, node, device), None)
                    for tags in metrics.values():
                        for tag in tags:
                            emit(
                                no_data(
                                    self.id,
                                    tag,
                                    arrived,
                                    f"Sparkplug NDEATH: edge node {t.node} is offline",
                                )
                            )
            return
        key = (t.group, t.node, t.device)
        metrics = self.by_metric.get(key)
        if metrics is None:
            return
        if t.message == "DDEATH":
            self.aliases.pop(key, None)
            for tags in metrics.values():
                for tag in tags:
                    emit(
                        no_data(
                            self.id, tag, arrived, f"Sparkplug DDEATH: device {t.device} is offline"
                        )
                    )
            return
        if t.message not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
            return
        try:
            decoded = sparkplug.decode(payload)
        except sparkplug.SparkplugDecodeError as exc:
            reason = f"{t.message} on {topic} is not a Sparkplug B payload ({exc})"
            for tags in metrics.values():
                for tag in tags:
                    emit(self._bad(tag, arrived, reason))
            return
        aliases = self.aliases[key]
        if t.message.endswith("BIRTH"):
            aliases.clear()
        fallback = _ms(decoded.timestamp, arrived)
        for metric in decoded.metrics:
            if metric.name is not None and metric.alias is not None:
                aliases[metric.alias] = metric.name
            name = metric.name if metric.name is not None else aliases.get(metric.alias or -1)
            for tag in metrics.get(name or "", ()):
                at = _ms(metric.timestamp, fallback)
                if metric.is_null:
                    emit(self._bad(tag, at, f"Sparkplug metric {name!r} is null"))
                else:
                    emit(sample(self.id, tag, metric.value, at))

    # ---- connection --------------------------------------------------------------------------
    def _client(self) -> Any:
        import aiomqtt

        host, port = self.spec.host_port
        user, password = self.spec.credentials()
        tls = None
        if self.spec.tls or self.spec.endpoint.startswith("mqtts://"):
            tls = ssl.create_default_context(
                cafile=str(self.spec.ca_file) if self.spec.ca_file else None
            )
        return aiomqtt.Client(
            host,
            port,
            username=user,
            password=password.get_secret_value() if password is not None else None,
            identifier=self.spec.client_id,
            clean_session=False if self.spec.client_id else None,
            tls_context=tls,
            timeout=10.0,
            keepalive=10,
        )

    async def run(self, emit: Emit) -> None:
        backoff = min(1.0, self.spec.reconnect_max_s)
        while True:
            try:
                async with self._client() as client:
                    for topic in self.subscriptions():
                        await client.subscribe(topic, qos=self.spec.qos)
                    self.connected.set()
                    backoff = min(1.0, self.spec.reconnect_max_s)
                    log.info("source %s: connected to %s", self.id, self.spec.endpoint)
                    async for message in client.messages:
                        self.handle(message.topic.value, bytes(message.payload or b""), emit)
                raise ConnectionError("the broker closed the connection")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  supervisor loop: a dead broker is data, not a crash
                cancelled_underneath(exc)
                self.connected.clear()
                reason = f"MQTT broker {self.spec.endpoint} unreachable ({type(exc).__name__}: {str(exc)[:120]})"
                log.warning("source %s: %s; retrying in %.0f s", self.id, reason, backoff)
                now = self.clock()
                for tag in self.spec.tags:
                    emit(no_data(self.id, tag, now, reason))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.spec.reconnect_max_s)

    async def read_once(self, timeout_s: float = 10.0) -> list[TagSample]:
        """Subscribe and wait for one value of every tag (retained messages / births), at most
        ``timeout_s``; a tag that did not arrive is "no data"."""
        got: dict[tuple[str, str], TagSample] = {}

        def keep(s: TagSample) -> None:
            got[(s.asset_id, s.sensor)] = s

        try:
            async with asyncio.timeout(timeout_s):
                async with self._client() as client:
                    for topic in self.subscriptions():
                        await client.subscribe(topic, qos=self.spec.qos)
                    async for message in client.messages:
                        self.handle(message.topic.value, bytes(message.payload or b""), keep)
                        if all(t.key in got for t in self.spec.tags):
                            break
        except Exception as exc:  # noqa: BLE001  reported per tag
            if not isinstance(exc, TimeoutError):
                now = self.clock()
                return [
                    no_data(self.id, t, now, f"MQTT broker {self.spec.endpoint}: {exc}")
                    for t in self.spec.tags
                ]
        now = self.clock()
        return [
            got.get(t.key)
            or no_data(self.id, t, now, f"no message for {t.label()} within {timeout_s:g} s")
            for t in self.spec.tags
        ]


__all__ = ["MqttSource"]
