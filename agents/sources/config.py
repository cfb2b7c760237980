"""``[[sources]]`` of the plant file: where each sensor's values come from, validated as data.

One table per server, broker or device; its ``tags`` say which asset sensor each node id, topic
(+ JSON path or Sparkplug metric) or register feeds::

    [[sources]]
    id = "line-a-opcua"
    kind = "opcua"                         # opcua | mqtt | modbus
    endpoint = "opc.tcp://10.0.0.5:4840"
    sampling_ms = 1000                     # monitored items' sampling interval
    security = { mode = "SignAndEncrypt", policy = "Basic256Sha256",
                 certificate = "pki/autoops.der", private_key = "pki/autoops.pem" }
    username_env = "OPCUA_USER"            # names of environment variables, never the secret
    password_env = "OPCUA_PASSWORD"
    tags = [
      { asset = "mill-1", sensor = "bearing_temp", node = "ns=2;s=Mill1.BearingTemp", unit = "degC", deadband = 0.2 },
    ]

Refused, naming the field (``sources[0].tags[2].node``): an unknown asset or sensor, a malformed
node id, registers that overlap, a unit that does not fit the sensor's kind (a unit that fits but
differs from the declared one is converted: degF -> degC, W -> kW, kPa -> bar, ...), a sensor fed
by two tags, a Sparkplug tag without its metric.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)

from agents.models import UNITS, SensorKind


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: Units a source may deliver in place of the sensor's declared one: (delivered, declared) -> f.
CONVERSIONS: dict[tuple[str, str], Callable[[float], float]] = {
    ("degF", "degC"): lambda v: (v - 32.0) * 5.0 / 9.0,
    ("K", "degC"): lambda v: v - 273.15,
    ("W", "kW"): lambda v: v / 1000.0,
    ("kW", "W"): lambda v: v * 1000.0,
    ("kPa", "bar"): lambda v: v / 100.0,
    ("Pa", "bar"): lambda v: v / 1e5,
    ("MPa", "bar"): lambda v: v * 10.0,
    ("psi", "bar"): lambda v: v * 0.0689475729,
    ("bar", "kPa"): lambda v: v * 100.0,
    ("in/s", "mm/s"): lambda v: v * 25.4,
    ("m3/h", "m3/min"): lambda v: v / 60.0,
}
_SAME = {frozenset({"degC", "°C", "C"}), frozenset({"%", "percent"}), frozenset({"m/s2", "m/s^2"})}


def _same_unit(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _SAME)


class Tag(_Frozen):
    """What every tag says: the asset sensor it feeds and the unit the source delivers."""

    asset: str = Field(min_length=1)
    sensor: str = Field(min_length=1)
    unit: str = ""  # as delivered; empty = the sensor's declared unit
    _sensor_unit: str = PrivateAttr(default="")
    _convert: Callable[[float], float] | None = PrivateAttr(default=None)

    @property
    def key(self) -> tuple[str, str]:
        return (self.asset, self.sensor)

    @property
    def sensor_unit(self) -> str:
        return self._sensor_unit or self.unit

    def bind(self, sensor_unit: str) -> None:
        """Fix the unit the agent expects (called once the plant's sensors are known)."""
        self._sensor_unit = sensor_unit
        delivered = self.unit or sensor_unit
        self._convert = (
            None if _same_unit(delivered, sensor_unit) else CONVERSIONS[(delivered, sensor_unit)]
        )

    def convert(self, value: float) -> float:
        return self._convert(value) if self._convert is not None else value

    def label(self) -> str:
        raise NotImplementedError


# ---------------------------------------------------------------------------------- OPC UA
_NODE_ID = re.compile(
    r"^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+)$"
)


class OpcUaTag(Tag):
    node: str
    deadband: float | None = Field(default=None, ge=0)  # absolute, in the delivered unit
    sampling_ms: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _node_id(self) -> OpcUaTag:
        if not _NODE_ID.match(self.node):
            raise ValueError(
                f"node: {self.node!r} is not an OPC UA node id; write it like 'ns=2;s=Mill1.Temp' "
                "or 'ns=3;i=1001' (`autoops sources browse opc.tcp://...` lists them)"
            )
        return self

    def label(self) -> str:
        return self.node


class OpcUaSecurity(_Frozen):
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "None"
    policy: Literal["Basic256Sha256"] = "Basic256Sha256"
    certificate: Path | None = None  # this client's certificate (DER or PEM)
    private_key: Path | None = None
    server_certificate: Path | None = None  # None = take it from the server's endpoint

    @model_validator(mode="after")
    def _files(self) -> OpcUaSecurity:
        if self.mode != "None" and (self.certificate is None or self.private_key is None):
            raise ValueError(f"security.mode {self.mode!r} needs certificate and private_key files")
        return self


class _SourceBase(_Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    endpoint: str
    username_env: str | None = None
    password_env: str | None = None
    # A tag silent for this many sampling / poll intervals is stale: "no data" on its sensor.
    stale_after: int = Field(default=5, ge=1)
    # Reconnect back-off: 1 s, doubling up to this.
    reconnect_max_s: float = Field(default=30.0, gt=0)

    def credentials(self) -> tuple[str | None, SecretStr | None]:
        """User name and password from the environment; a named variable that is unset is an error."""
        values = []
        for field, var in (
            ("username_env", self.username_env),
            ("password_env", self.password_env),
        ):
            if var and var not in os.environ:
                raise ValueError(
                    f"sources.{self.id}.{field}: environment variable {var!r} is not set"
                )
            values.append(os.environ.get(var) if var else None)
        return values[0], SecretStr(values[1]) if values[1] is not None else None


class OpcUaSourceSpec(_SourceBase):
    kind: Literal["opcua"]
    security: OpcUaSecurity = OpcUaSecurity()
    sampling_ms: float = Field(default=1000.0, gt=0)
    publishing_ms: float | None = Field(default=None, gt=0)  # None = the sampling interval
    timeout_s: float = Field(default=4.0, gt=0)
    # Changes kept per monitored item between two publishes (none lost to a slow publish).
    queue_size: int = Field(default=10, ge=1)
    # On (re)connect, read the server's history (HistoryRead) from each tag's last delivered
    # source time: what changed while autoops was away (stopped, killed, cut off) still arrives.
    backfill: bool = False
    tags: tuple[OpcUaTag, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _endpoint(self) -> OpcUaSourceSpec:
        if not self.endpoint.startswith("opc.tcp://"):
            raise ValueError(f"endpoint: {self.endpoint!r} must start with opc.tcp://")
        return self

    @property
    def interval_s(self) -> float:
        return self.sampling_ms / 1000.0


# ---------------------------------------------------------------------------------- MQTT
class MqttTag(Tag):
    # JSON: the topic and a dotted path into the payload ("data.temp", "values.0")
    topic: str | None = None
    path: str | None = None
    time_path: str | None = None  # epoch s / ms or ISO 8601; else the time of arrival
    # Sparkplug B: spBv1.0/<group>/DDATA/<node>/<device>, metric name
    group: str | None = None
    node: str | None = None
    device: str | None = None  # None = a node metric (NBIRTH / NDATA)
    metric: str | None = None

    def label(self) -> str:
        if self.metric is not None:
            return f"spBv1.0/{self.group}/{self.node}/{self.device or ''} {self.metric}".replace(
                "/ ", " "
            )
        return f"{self.topic} {self.path}"


class MqttSourceSpec(_SourceBase):
    kind: Literal["mqtt"]
    format: Literal["json", "sparkplug"] = "json"
    qos: Literal[0, 1, 2] = 1
    tls: bool = False
    ca_file: Path | None = None
    client_id: str | None = None  # fixed id + persistent session: the broker keeps QoS 1 messages
    expect_every_s: float | None = Field(default=None, gt=0)  # publishing period, for staleness
    tags: tuple[MqttTag, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> MqttSourceSpec:
        if not re.match(r"^mqtts?://[^:/]+(:\d+)?/?$", self.endpoint):
            raise ValueError(f"endpoint: {self.endpoint!r} must look like mqtt://host:1883")
        for i, tag in enumerate(self.tags):
            if self.format == "sparkplug":
                missing = [f for f in ("group", "node", "metric") if getattr(tag, f) is None]
                if missing:
                    raise ValueError(f"tags[{i}]: a Sparkplug tag needs {', '.join(missing)}")
            elif tag.topic is None or tag.path is None:
                raise ValueError(f"tags[{i}]: a JSON tag needs topic and path")
            elif any(c in tag.topic for c in "+#"):
                raise ValueError(f"tags[{i}].topic: {tag.topic!r} must be one topic, no wildcards")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        rest = self.endpoint.split("://", 1)[1].rstrip("/")
        host, _, port = rest.partition(":")
        return host, int(port) if port else (8883 if self.endpoint.startswith("mqtts") else 1883)


# ---------------------------------------------------------------------------------- Modbus
ModbusType = Literal["int16", "uint16", "int32", "uint32", "float32"]
WIDTH: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}


class ModbusTag(Tag):
    # Written ``register`` in the plant file (``register`` is taken on pydantic models).
    address: int = Field(ge=0, le=65535, validation_alias=AliasChoices("register", "address"))
    table: Literal["holding", "input"] = "holding"
    type: ModbusType = "uint16"
    byte_order: Literal["big", "little"] = "big"  # bytes within one register
    word_order: Literal["big", "little"] = "big"  # registers within a 32-bit value
    scale: float = 1.0
    offset: float = 0.0
    unit_id: int | None = Field(default=None, ge=0, le=255)  # None = the source's

    @property
    def width(self) -> int:
        return WIDTH[self.type]

    def label(self) -> str:
        return f"{self.table} register {self.address} ({self.type})"


class ModbusSourceSpec(_SourceBase):
    kind: Literal["modbus"]
    unit_id: int = Field(default=1, ge=0, le=255)
    poll_ms: float = Field(default=1000.0, gt=0)
    timeout_s: float = Field(default=2.0, gt=0)
    tags: tuple[ModbusTag, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _registers(self) -> ModbusSourceSpec:
        if not re.match(r"^(modbus(\+tcp)?://)?[^:/]+:\d+/?$", self.endpoint):
            raise ValueError(f"endpoint: {self.endpoint!r} must look like modbus://host:502")
        taken: dict[tuple[int, str, int], int] = {}
        for i, tag in enumerate(self.tags):
            unit = tag.unit_id if tag.unit_id is not None else self.unit_id
            for reg in range(tag.address, tag.address + tag.width):
                other = taken.setdefault((unit, tag.table, reg), i)
                if other != i:
                    raise ValueError(
                        f"tags[{i}].register: {tag.table} register {reg} of unit {unit} is "
                        f"already read by tags[{other}] ({self.tags[other].sensor}); registers overlap"
                    )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        rest = self.endpoint.split("://", 1)[-1].rstrip("/")
        host, _, port = rest.rpartition(":")
        return host, int(port)

    @property
    def interval_s(self) -> float:
        return self.poll_ms / 1000.0


SourceSpec = Annotated[
    OpcUaSourceSpec | MqttSourceSpec | ModbusSourceSpec, Field(discriminator="kind")
]


class _Sources(_Frozen):
    sources: tuple[SourceSpec, ...]


def parse_sources(tables: Sequence[Mapping[str, Any]]) -> tuple[SourceSpec, ...]:
    """Type the raw ``[[sources]]`` tables (pydantic ``ValidationError`` names the field)."""
    return _Sources.model_validate({"sources": list(tables)}).sources


#: Sensor kinds of energy meter fields (``<meter_id>.<field>`` in the energy agent's readings).
_ENERGY_FIELDS: dict[str, SensorKind] = {
    "power": SensorKind.POWER,
    "flow": SensorKind.FLOW,
    "pressure": SensorKind.PRESSURE,
}

SensorIndex = Mapping[str, Mapping[str, tuple[SensorKind | None, str]]]


def sensor_index(
    machines: Sequence[Mapping[str, Any]],
    inventory: Sequence[Mapping[str, Any]],
    energy: Sequence[Mapping[str, Any]],
) -> dict[str, dict[str, tuple[SensorKind | None, str]]]:
    """asset id -> sensor name -> (kind, declared unit), from the plant file's raw tables."""
    index: dict[str, dict[str, tuple[SensorKind | None, str]]] = {}
    for table in machines:
        sensors: dict[str, tuple[SensorKind | None, str]] = {}
        for s in table.get("sensors", ()):
            try:
                sensors[s["name"]] = (SensorKind(s["kind"]), s.get("unit", ""))
            except (KeyError, ValueError, TypeError):
                continue  # the machine's own validation names that problem
        index[str(table.get("id"))] = sensors
    for table in inventory:
        index[str(table.get("sku"))] = {"stock": (None, ""), "on_order": (None, "")}
    for table in energy:
        sensors = {}
        for meter in table.get("meters", ()):
            for field, kind in _ENERGY_FIELDS.items():
                unit = "kW" if kind is SensorKind.POWER else ""
                sensors[f"{meter.get('meter_id')}.{field}"] = (kind, unit)
            sensors[f"{meter.get('meter_id')}.energy_kwh"] = (None, "kWh")
            sensors[f"{meter.get('meter_id')}.production_rate"] = (None, "")  # a line's sub-meter
        sensors["production_rate"] = (None, "")
        index[str(table.get("system_id"))] = sensors
    return index


def check_sources(sources: Sequence[SourceSpec], index: SensorIndex) -> list[str]:
    """Problems of the tag mapping against the plant's sensors, each naming its field; binds units."""
    problems: list[str] = []
    fed: dict[tuple[str, str], str] = {}
    ids: set[str] = set()
    for si, source in enumerate(sources):
        if source.id in ids:
            problems.append(f"sources[{si}].id: duplicate source id {source.id!r}")
        ids.add(source.id)
        for ti, tag in enumerate(source.tags):
            where = f"sources[{si}].tags[{ti}]"
            sensors = index.get(tag.asset)
            if sensors is None:
                problems.append(
                    f"{where}.asset: unknown asset {tag.asset!r}; assets are {sorted(index)}"
                )
                continue
            if tag.sensor not in sensors:
                problems.append(
                    f"{where}.sensor: asset {tag.asset!r} has no sensor {tag.sensor!r}; "
                    f"its sensors are {sorted(sensors)}"
                )
                continue
            previous = fed.setdefault(tag.key, where)
            if previous != where:
                problems.append(f"{where}: {tag.asset}.{tag.sensor} is already fed by {previous}")
            kind, declared = sensors[tag.sensor]
            delivered = tag.unit or declared
            allowed = UNITS.get(kind) if kind is not None else None
            if allowed is not None and delivered not in allowed:
                problems.append(
                    f"{where}.unit: {delivered!r} does not fit sensor {tag.sensor!r} of kind "
                    f"{kind.value!r}; use one of {sorted(allowed)}"  # type: ignore[union-attr]
                )
                continue
            target = declared or delivered
            if not _same_unit(delivered, target) and (delivered, target) not in CONVERSIONS:
                problems.append(
                    f"{where}.unit: no conversion from {delivered!r} to the sensor's declared "
                    f"unit {target!r}; deliver {target!r}"
                )
                continue
            tag.bind(target)
    return problems


__all__ = [
    "CONVERSIONS",
    "ModbusSourceSpec",
    "ModbusTag",
    "MqttSourceSpec",
    "MqttTag",
    "OpcUaSecurity",
    "OpcUaSourceSpec",
    "OpcUaTag",
    "SourceSpec",
    "Tag",
    "check_sources",
    "parse_sources",
    "sensor_index",
]
