"""OPC UA source (asyncua): monitored items on a subscription, the server's quality and time kept.

Each tag is a monitored item with the source's sampling interval (or the tag's) and, when given,
an absolute deadband. A notification becomes a ``TagSample`` with the value's ``SourceTimestamp``
(the server's time when it has none) and its ``StatusCode``: Good -> good, Uncertain -> the value
is used and the status kept, Bad -> no value, a "bad quality" sensor fault naming the status.

The connection is watched (a read of the server state every sampling interval, at least once a
second): when it fails, every tag turns "no data" with the reason, and the source reconnects with
exponential back-off (1 s doubling to ``reconnect_max_s``, 30 s by default) and re-subscribes; readings resume by themselves.
Security: None, Sign or SignAndEncrypt with Basic256Sha256, certificate files named in the plant
file; user name and password come from environment variables and are never logged.

An unchanging value is not stale in OPC UA (the server reports changes only); a server that loses
its own data source says so with a Bad status (e.g. ``BadNoCommunication``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from agents.sources.config import OpcUaSourceSpec, OpcUaTag

log = logging.getLogger(__name__)


def _status(code: Any) -> tuple[Quality, str]:
    from asyncua import ua

    value = int(getattr(code, "value", code) or 0)
    if value == 0:
        return Quality.GOOD, ""
    try:
        name = ua.status_codes.get_name_and_doc(value)[0]
    except Exception:  # noqa: BLE001  an unknown code is shown as hex
        name = f"0x{value:08X}"
    severity = value >> 30
    if severity == 1:
        return Quality.UNCERTAIN, f"OPC UA status {name}"
    return Quality.BAD, f"OPC UA status {name}"


async def _client(spec: OpcUaSourceSpec) -> Any:
    from asyncua import Client

    client = Client(spec.endpoint, timeout=spec.timeout_s)
    client.application_uri = "urn:autoops:client"
    user, password = spec.credentials()
    if user:
        client.set_user(user)
    if password is not None:
        # asyncua logs whole requests at DEBUG, the login's password included: never below INFO.
        library = logging.getLogger("asyncua")
        if library.getEffectiveLevel() < logging.INFO:
            library.setLevel(logging.INFO)
        client.set_password(password.get_secret_value())
    sec = spec.security
    if sec.mode != "None":
        from asyncua import ua
        from asyncua.crypto import security_policies

        client.application_uri = _application_uri(sec.certificate) or client.application_uri  # type: ignore[arg-type]
        await client.set_security(
            getattr(security_policies, f"SecurityPolicy{sec.policy}"),
            str(sec.certificate),
            str(sec.private_key),
            server_certificate=str(sec.server_certificate) if sec.server_certificate else None,
            mode=getattr(ua.MessageSecurityMode, sec.mode),
        )
    return client


def _application_uri(path: Path) -> str | None:
    """The URI in a certificate's subject alternative names: the client must present it."""
    from cryptography import x509

    raw = Path(path).read_bytes()
    try:
        cert = x509.load_der_x509_certificate(raw)
    except ValueError:
        cert = x509.load_pem_x509_certificate(raw)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def _reason(exc: BaseException) -> str:
    # asyncua messages can repeat the URL with credentials; the type and the first line suffice.
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


class OpcUaSource:
    """One OPC UA server and the tags it feeds."""

    protocol = "opcua"

    def __init__(
        self,
        spec: OpcUaSourceSpec,
        *,
        clock: Clock = utc_now,
        resume_from: Mapping[tuple[str, str], datetime] | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.connected = asyncio.Event()
        # (asset, sensor) -> newest source time delivered; back-fill starts after it.
        self.seen: dict[tuple[str, str], datetime] = dict(resume_from or {})

    def _emit_seen(self, emit: Emit) -> Emit:
        def wrapped(s: TagSample) -> None:
            key = (s.asset_id, s.sensor)
            if s.quality is not Quality.NO_DATA and (key not in self.seen or s.source_time > self.seen[key]):
                self.seen[key] = s.source_time
            emit(s)

        return wrapped

    async def _backfill(self, client: Any, emit: Emit) -> None:
        """What changed since each tag's last delivered value, oldest first (HistoryRead)."""
        now = self.clock()
        for tag in self.spec.tags:
            since = self.seen.get(tag.key)
            if since is None:
                continue
            try:
                history = await client.get_node(tag.node).read_raw_history(
                    starttime=since, endtime=now, return_bounds=False
                )
            except Exception as exc:  # noqa: BLE001  a server without history: nothing to fill
                cancelled_underneath(exc)
                log.warning("source %s: no history for %s (%s)", self.id, tag.node, _reason(exc))
                continue
            missed = [dv for dv in history if dv.SourceTimestamp and _aware(dv.SourceTimestamp) > since]
            missed.sort(key=lambda dv: _aware(dv.SourceTimestamp))
            for dv in missed:
                emit(self._sample(tag, dv))
            if missed:
                log.info("source %s: back-filled %d value(s) of %s", self.id, len(missed), tag.node)

    @property
    def id(self) -> str:
        return self.spec.id

    def _sample(self, tag: OpcUaTag, data_value: Any) -> TagSample:
        quality, reason = _status(data_value.StatusCode)
        at = data_value.SourceTimestamp or data_value.ServerTimestamp or self.clock()
        raw = data_value.Value.Value if data_value.Value is not None else None
        return sample(self.id, tag, raw, _aware(at), quality=quality, reason=reason)

    async def _subscribe(self, client: Any, emit: Emit) -> Any:
        from asyncua import ua

        by_node: dict[str, OpcUaTag] = {}
        source = self

        class Handler:
            def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
                tag = by_node.get(node.nodeid.to_string())
                if tag is not None:
                    emit(source._sample(tag, data.monitored_item.Value))

        period = self.spec.publishing_ms or self.spec.sampling_ms
        sub = await client.create_subscription(period, Handler())
        for tag in self.spec.tags:
            node = client.get_node(tag.node)
            by_node[node.nodeid.to_string()] = tag
            sampling = tag.sampling_ms or self.spec.sampling_ms
            if tag.deadband:
                handle = await sub.deadband_monitor(
                    node, tag.deadband, deadbandtype=1, queuesize=self.spec.queue_size
                )
            else:
                handle = await sub.subscribe_data_change(
                    node, sampling_interval=sampling, queuesize=self.spec.queue_size
                )
            if isinstance(handle, ua.StatusCode):
                emit(
                    no_data(
                        self.id,
                        tag,
                        self.clock(),
                        f"cannot monitor {tag.node}: {_status(handle)[1]}",
                    )
                )
        return sub

    async def run(self, emit: Emit) -> None:
        backoff = min(1.0, self.spec.reconnect_max_s)
        tracked = self._emit_seen(emit)
        while True:
            client = None
            try:
                client = await _client(self.spec)
                await client.connect()
                # History first, then the live values: the assembler never sees time go back.
                if self.spec.backfill:
                    await self._backfill(client, tracked)
                await self._subscribe(client, tracked)
                self.connected.set()
                backoff = min(1.0, self.spec.reconnect_max_s)
                log.info("source %s: connected to %s", self.id, self.spec.endpoint)
                every = min(self.spec.interval_s, 1.0)
                while True:
                    await asyncio.sleep(every)
                    await asyncio.wait_for(
                        client.nodes.server_state.read_value(), timeout=self.spec.timeout_s
                    )
                    cancelled_underneath()  # asyncua may swallow a cancel inside a request
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  supervisor loop: a dead server is data, not a crash
                cancelled_underneath(exc)
                self.connected.clear()
                reason = f"OPC UA server {self.spec.endpoint} unreachable ({_reason(exc)})"
                log.warning("source %s: %s; retrying in %.0f s", self.id, reason, backoff)
                now = self.clock()
                for tag in self.spec.tags:
                    # With backfill the server's history will fill the gap from the last value we
                    # had: the fault is stamped just after it, not "now", so the history read on
                    # reconnect is not older than a reading already made (and dropped as late).
                    last = self.seen.get(tag.key) if self.spec.backfill else None
                    at = last + timedelta(microseconds=1) if last is not None else now
                    emit(no_data(self.id, tag, at, reason))
            finally:
                if client is not None:
                    try:
                        await asyncio.wait_for(client.disconnect(), timeout=2.0)
                    except Exception:  # noqa: BLE001  the socket may already be gone
                        pass
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.spec.reconnect_max_s)

    async def read_once(self, timeout_s: float = 10.0) -> list[TagSample]:
        """Read every tag once (no subscription)."""
        client = await _client(self.spec)
        try:
            await asyncio.wait_for(client.connect(), timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001  reported per tag
            now = self.clock()
            reason = f"cannot connect to {self.spec.endpoint} ({_reason(exc)})"
            return [no_data(self.id, tag, now, reason) for tag in self.spec.tags]
        out: list[TagSample] = []
        try:
            for tag in self.spec.tags:
                try:
                    dv = await client.get_node(tag.node).read_data_value()
                    out.append(self._sample(tag, dv))
                except Exception as exc:  # noqa: BLE001  one bad node id must not hide the others
                    out.append(
                        TagSample(
                            self.id,
                            tag.asset,
                            tag.sensor,
                            None,
                            tag.sensor_unit,
                            Quality.BAD,
                            self.clock(),
                            f"node {tag.node}: {_reason(exc)}",
                        )
                    )
        finally:
            try:
                await asyncio.wait_for(client.disconnect(), timeout=2.0)
            except Exception:  # noqa: BLE001
                pass
        return out


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


async def browse(
    endpoint: str, *, max_depth: int = 6, max_nodes: int = 2000, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """The address space under Objects: node id, browse path, class, data type and value."""
    from asyncua import Client, ua

    client = Client(endpoint, timeout=timeout_s)
    await asyncio.wait_for(client.connect(), timeout=timeout_s)
    out: list[dict[str, Any]] = []
    try:

        async def walk(node: Any, path: str, depth: int) -> None:
            if depth > max_depth or len(out) >= max_nodes:
                return
            for child in await node.get_children():
                if len(out) >= max_nodes:
                    return
                name = (await child.read_browse_name()).Name
                if (
                    child.nodeid.NamespaceIndex == 0
                    and depth == 0
                    and name in ("Server", "Aliases")
                ):
                    continue  # the server's own diagnostics, not the plant's tags
                cls = await child.read_node_class()
                entry: dict[str, Any] = {
                    "node": child.nodeid.to_string(),
                    "path": f"{path}/{name}",
                    "class": cls.name,
                }
                if cls == ua.NodeClass.Variable:
                    try:
                        dv = await child.read_data_value()
                        entry["data_type"] = dv.Value.VariantType.name if dv.Value else ""
                        value = dv.Value.Value if dv.Value else None
                        entry["value"] = (
                            value if isinstance(value, int | float | str | bool) else repr(value)
                        )
                        entry["status"] = _status(dv.StatusCode)[0].value
                    except Exception as exc:  # noqa: BLE001  shown, not fatal
                        entry["error"] = _reason(exc)
                out.append(entry)
                await walk(child, entry["path"], depth + 1)

        await walk(client.nodes.objects, "Objects", 0)
    finally:
        await client.disconnect()
    return out


__all__ = ["OpcUaSource", "browse"]
