"""Loopback servers the digital twins publish through: OPC UA, an MQTT broker, Modbus TCP.

The demo, the benchmarks and the integration tests start these on 127.0.0.1 so that readings
reach the agents the way a plant's do — through the protocols — and not by a function call:

- ``OpcUaEndpoint``: asyncua's own server, one variable per tag (``ns=2;s=<asset>.<sensor>``),
  written with a value, a status code and a source timestamp; security None or
  SignAndEncrypt / Basic256Sha256 with a certificate made by ``make_certificate``;
- ``MqttBroker``: amqtt in process; ``SparkplugEdgeNode`` publishes NBIRTH / DBIRTH / DDATA /
  DDEATH (and leaves NDEATH as its will) for devices and their metrics;
- ``ModbusEndpoint``: a pymodbus server whose holding and input registers the caller sets, and
  which answers a chosen register with a chosen Modbus exception.

Every ``start`` has its ``stop``; each binds to loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.sources import sparkplug

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_certificate(directory: Path, name: str, uri: str) -> tuple[Path, Path]:
    """A self-signed OPC UA application certificate (DER) and its key (PEM) for ``uri``."""
    from asyncua.crypto import cert_gen
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID

    directory.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        name,
        {"organizationName": "autoops"},
        [
            x509.UniformResourceIdentifier(uri),
            x509.DNSName("localhost"),
            x509.DNSName(socket.gethostname()),
            x509.IPAddress(ipaddress.ip_address(HOST)),
        ],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
    )
    cert_path, key_path = directory / f"{name}.der", directory / f"{name}.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


# ---------------------------------------------------------------------------------- OPC UA
class OpcUaEndpoint:
    """An asyncua server holding one variable per tag."""

    NAMESPACE = "urn:autoops:twin"

    def __init__(
        self,
        port: int | None = None,
        *,
        certificate: Path | None = None,
        private_key: Path | None = None,
        secure_only: bool = False,
        users: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.users = dict(users) if users else None  # user -> password; None = anyone
        self.certificate = certificate
        self.private_key = private_key
        self.secure_only = secure_only
        self.server: Any = None
        self.idx = 2
        self.nodes: dict[str, Any] = {}  # node id string -> asyncua NodeId

    @property
    def url(self) -> str:
        return f"opc.tcp://{HOST}:{self.port}/autoops/"

    async def start(self, variables: Mapping[str, Any], *, history: bool = False) -> None:
        """Serve ``{"<asset>.<sensor>": initial value}`` as ``ns=2;s=<asset>.<sensor>``;
        ``history``: keep every change (in memory) for clients' HistoryRead."""
        from asyncua import Server, ua

        server = Server(user_manager=_Users(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("autoops twin")
        if self.certificate is not None and self.private_key is not None:
            await server.load_certificate(str(self.certificate))
            await server.load_private_key(str(self.private_key))
            policies = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
            if not self.secure_only:
                policies.insert(0, ua.SecurityPolicyType.NoSecurity)
            server.set_security_policy(policies)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.idx = await server.register_namespace(self.NAMESPACE)
        objects: dict[str, Any] = {}
        for name, initial in variables.items():
            asset = name.split(".", 1)[0]
            if asset not in objects:
                objects[asset] = await server.nodes.objects.add_object(self.idx, asset)
            node_id = ua.NodeId(name, self.idx)
            var = await objects[asset].add_variable(
                node_id, name.split(".", 1)[-1], ua.Variant(initial, _variant_type(initial))
            )
            self.nodes[f"ns={self.idx};s={name}"] = var.nodeid
        await server.start()
        if history:
            await server.historize_node_data_change(
                [server.get_node(n) for n in self.nodes.values()], period=None, count=0
            )
        self.server = server

    def node(self, name: str) -> str:
        return f"ns={self.idx};s={name}"

    async def write(
        self,
        name: str,
        value: Any,
        *,
        status: str | None = None,
        source_time: datetime | None = None,
        variant: str | None = None,
    ) -> None:
        """Set a variable: value, status code name (e.g. "BadSensorFailure"), source time."""
        from asyncua import ua

        vtype = getattr(ua.VariantType, variant) if variant else _variant_type(value)
        code = ua.StatusCode(getattr(ua.StatusCodes, status)) if status else ua.StatusCode(0)
        dv = ua.DataValue(
            ua.Variant(value, vtype),
            StatusCode=code,
            SourceTimestamp=source_time or datetime.now(UTC),
            ServerTimestamp=datetime.now(UTC),
        )
        node_id = self.nodes[self.node(name)]
        stored = self.server.iserver.aspace._nodes[node_id].attributes[ua.AttributeIds.Value]
        if (
            stored.value is not None
            and stored.value.Value is not None
            and stored.value.Value.VariantType != vtype
        ):
            # A misbehaving device changes a tag's type (a string where a float was); asyncua's
            # server refuses that on a write, so the twin forgets the stored value first.
            stored.value = None
        await self.server.write_attribute_value(node_id, dv)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


class _Users:
    """Only the listed users, with their passwords (the tests' and the demo's OPC UA login)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = users

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> Any:
        from asyncua.crypto.permission_rules import User, UserRole

        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


def _variant_type(value: Any) -> Any:
    from asyncua import ua

    if isinstance(value, bool):
        return ua.VariantType.Boolean
    if isinstance(value, int):
        return ua.VariantType.Int32
    if isinstance(value, str):
        return ua.VariantType.String
    return ua.VariantType.Double


# ---------------------------------------------------------------------------------- MQTT
class MqttBroker:
    """amqtt's broker, in this process, on loopback."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    async def start(self) -> None:
        from amqtt.broker import Broker

        self.broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
        )
        await self.broker.start()

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.shutdown()
            self.broker = None


@dataclass
class SparkplugEdgeNode:
    """A Sparkplug B edge node with devices, publishing through one MQTT connection."""

    host: str
    port: int
    group: str
    node: str
    devices: dict[str, dict[str, int]] = field(default_factory=dict)  # device -> metric -> datatype
    seq: int = 0
    _client: Any = None
    _stack: contextlib.AsyncExitStack | None = None
    _aliases: dict[tuple[str, str], int] = field(default_factory=dict)

    async def connect(self) -> None:
        import aiomqtt

        will = aiomqtt.Will(
            sparkplug.topic(self.group, "NDEATH", self.node),
            sparkplug.encode(sparkplug.Payload(timestamp=_ms(), metrics=[])),
            qos=1,
        )
        self._stack = contextlib.AsyncExitStack()
        self._client = await self._stack.enter_async_context(
            aiomqtt.Client(
                self.host, self.port, will=will, identifier=f"edge-{self.group}-{self.node}"
            )
        )
        await self._publish("NBIRTH", None, sparkplug.Payload(timestamp=_ms(), metrics=[]))

    def _next(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) % 256
        return seq

    async def _publish(self, message: str, device: str | None, payload: sparkplug.Payload) -> None:
        payload.seq = self._next()
        await self._client.publish(
            sparkplug.topic(self.group, message, self.node, device),
            sparkplug.encode(payload),
            qos=1,
        )

    async def birth(
        self, device: str, values: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        """DBIRTH: every metric with its name, alias, datatype and current value."""
        metrics = []
        for name, value in values.items():
            alias = self._aliases.setdefault((device, name), len(self._aliases) + 1)
            dtype = self.devices.setdefault(device, {}).setdefault(name, _datatype(value))
            metrics.append(
                sparkplug.Metric(
                    name=name, alias=alias, timestamp=_ms(at), datatype=dtype, value=value
                )
            )
        await self._publish("DBIRTH", device, sparkplug.Payload(timestamp=_ms(at), metrics=metrics))

    async def data(
        self, device: str, values: Mapping[str, Any], *, at: datetime | None = None
    ) -> None:
        """DDATA by alias only, as Sparkplug devices send it after their birth."""
        metrics = [
            sparkplug.Metric(
                alias=self._aliases[(device, name)],
                timestamp=_ms(at),
                datatype=self.devices[device][name],
                value=value,
                is_null=value is None,
            )
            for name, value in values.items()
        ]
        await self._publish("DDATA", device, sparkplug.Payload(timestamp=_ms(at), metrics=metrics))

    async def death(self, device: str) -> None:
        await self._publish("DDEATH", device, sparkplug.Payload(timestamp=_ms(), metrics=[]))

    async def raw(self, message: str, device: str | None, payload: bytes) -> None:
        await self._client.publish(
            sparkplug.topic(self.group, message, self.node, device), payload, qos=1
        )

    def drop(self) -> None:
        """Lose the connection as a power cut would: the broker then publishes the NDEATH will."""
        self._client._client.socket().close()

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            with contextlib.suppress(Exception):  # after ``drop`` there is nothing to close cleanly
                await asyncio.wait_for(stack.aclose(), timeout=5.0)


def _ms(at: datetime | None = None) -> int:
    return int((at.timestamp() if at else time.time()) * 1000)


def _datatype(value: Any) -> int:
    if isinstance(value, bool):
        return sparkplug.DataType.BOOLEAN
    if isinstance(value, int):
        return sparkplug.DataType.INT32
    if isinstance(value, str):
        return sparkplug.DataType.STRING
    return sparkplug.DataType.DOUBLE


# ---------------------------------------------------------------------------------- Modbus
class ModbusEndpoint:
    """A pymodbus TCP server; ``registers[(table, address)]`` is what it answers."""

    def __init__(self, port: int | None = None, *, unit_id: int = 1, size: int = 1000) -> None:
        self.port = port or free_port()
        self.unit_id = unit_id
        self.size = size
        self.registers: dict[tuple[str, int], int] = {}
        self.failing: dict[int, int] = {}  # address -> Modbus exception code
        self.server: Any = None

    @property
    def url(self) -> str:
        return f"modbus://{HOST}:{self.port}"

    def set(self, table: str, address: int, words: Iterable[int]) -> None:
        for i, word in enumerate(words):
            self.registers[(table, address + i)] = int(word) & 0xFFFF

    async def start(self) -> None:
        from pymodbus.constants import ExcCodes
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def action(
            fc: int, start: int, address: int, count: int, current: list[int], set_values: Any
        ) -> Any:
            for reg in range(address, address + count):
                if reg in self.failing:
                    return ExcCodes(self.failing[reg])
            table = "input" if fc == 4 else "holding"
            for i in range(len(current)):
                current[i] = self.registers.get((table, start + i), current[i])
            return None

        bits = [SimData(0, count=1, values=False, datatype=DataType.BITS)]
        device = SimDevice(
            self.unit_id,
            simdata=(
                bits,
                list(bits),
                [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=self.size, values=0, datatype=DataType.REGISTERS)],
            ),
            action=action,
        )
        self.server = ModbusTcpServer(device, address=(HOST, self.port))
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None
            await asyncio.sleep(0)


__all__ = [
    "HOST",
    "ModbusEndpoint",
    "MqttBroker",
    "OpcUaEndpoint",
    "SparkplugEdgeNode",
    "free_port",
    "make_certificate",
]
