"""Build an agent from a typed spec: the runtime ships specs to actors, actors build agents.

A spec is small, frozen and JSON-able (it crosses process boundaries and is re-read when Ray
restarts an actor), and names the asset kind, the asset id and the kind's own configuration as
plain data. The configuration is validated by the kind's module when the agent is built, so this
module imports no agent module at import time: a kind whose module is missing or broken fails only
when an agent of that kind is built, with a message that says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agents.base import Agent
from agents.errors import ConfigError, InputError
from agents.models import AssetKind


class _SpecBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Asset ids become actor names ("asset:<id>") and checkpoint keys; keep them printable.
    asset_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")
    config: dict[str, Any] = Field(default_factory=dict)


class MachineAgentSpec(_SpecBase):
    """A machine (mill, lathe, furnace, compressor motor): ``config`` is a ``MachineAsset``."""

    kind: Literal[AssetKind.MACHINE] = AssetKind.MACHINE


class InventoryAgentSpec(_SpecBase):
    """Stock of one or more SKUs: ``config`` is the inventory agent's configuration."""

    kind: Literal[AssetKind.INVENTORY] = AssetKind.INVENTORY


class EnergyAgentSpec(_SpecBase):
    """Energy: a whole metered system (``config`` is an ``EnergySystem``: one plant meter and its
    sub-meters, so a plant spike can be traced to a sub-meter) or one ``EnergyMeter`` alone."""

    kind: Literal[AssetKind.ENERGY] = AssetKind.ENERGY
    scope: Literal["system", "meter"] = "system"


AgentSpec = Annotated[
    MachineAgentSpec | InventoryAgentSpec | EnergyAgentSpec, Field(discriminator="kind")
]

_SPEC_ADAPTER: TypeAdapter[AgentSpec] = TypeAdapter(AgentSpec)

#: Turns a spec into a live agent; the runtime takes any such function, ``build_agent`` by default.
AgentBuilder = Callable[[AgentSpec], Agent]


def parse_spec(data: Mapping[str, Any], *, source: str | None = None) -> AgentSpec:
    """Validate plain data (e.g. a TOML table) into an ``AgentSpec``; errors name the field."""
    try:
        return _SPEC_ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "agent spec"), file=source) from exc


def spec_from_table(
    kind: AssetKind | str, table: Mapping[str, Any], *, where: str, source: str | None = None
) -> AgentSpec:
    """One asset table of a plant file (``[[machines]]``, ``[[inventory]]``, ``[[energy]]``) as a spec.

    The asset id is the table's own id field: ``id`` for a machine, ``asset_id`` or else ``sku``
    for a stock item, ``system_id`` for an energy system (a table with ``meters``) or ``meter_id``
    for a single meter. ``where`` names the table in errors, e.g. ``machines[2]``.
    """
    kind = AssetKind(kind)
    scope: str | None = None
    if kind is AssetKind.MACHINE:
        id_fields = ("id",)
    elif kind is AssetKind.INVENTORY:
        id_fields = ("asset_id", "sku")
    else:
        scope = "system" if "meters" in table else "meter"
        id_fields = ("system_id",) if scope == "system" else ("meter_id",)
    asset_id = next((table[f] for f in id_fields if table.get(f)), None)
    if not isinstance(asset_id, str):
        raise ConfigError(
            f"{where}: give the asset an id in field {' or '.join(repr(f) for f in id_fields)}",
            file=source,
        )
    data: dict[str, Any] = {"kind": kind.value, "asset_id": asset_id, "config": dict(table)}
    if scope is not None:
        data["scope"] = scope
    try:
        return parse_spec(data, source=source)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def build_agent(spec: AgentSpec) -> Agent:
    """Build the agent a spec describes, validating its configuration with the kind's own model."""
    kind = _KINDS[(spec.kind, getattr(spec, "scope", None))]
    module = _import_kind(spec, kind.module)
    config = _validated(spec, _attr(module, kind.config_model, spec), kind.id_field)
    agent: Agent = _attr(module, kind.agent_class, spec)(config)
    if agent.asset_id != spec.asset_id:
        raise ConfigError(
            f"asset {spec.asset_id!r}: its configuration describes asset {agent.asset_id!r}; "
            "make the spec's asset_id and the configuration's id the same"
        )
    return agent


def _import_kind(spec: AgentSpec, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(
            f"asset {spec.asset_id!r}: agents of kind {spec.kind.value!r} live in {module_name}, "
            "which is not installed in this build; remove the asset or install that module"
        ) from exc


def _validated(spec: AgentSpec, model: type[BaseModel], id_field: str) -> BaseModel:
    config = dict(spec.config)
    # The spec already names the asset; the config may leave its own id out.
    config.setdefault(id_field, spec.asset_id)
    what = f"asset {spec.asset_id!r} ({spec.kind.value}) config"
    try:
        return model.model_validate(config)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, what)) from exc
    except InputError as exc:  # validators that raise our own errors (a sensor's unit)
        raise ConfigError(f"{what}: {exc}") from exc


def _attr(module: ModuleType, name: str, spec: AgentSpec) -> Any:
    try:
        return getattr(module, name)
    except AttributeError as exc:
        raise ConfigError(
            f"asset {spec.asset_id!r}: {module.__name__} has no {name}; "
            "the agent module and agents/registry.py disagree, update the registry"
        ) from exc


@dataclass(frozen=True)
class _Kind:
    """Where an agent kind lives: its module, configuration model, agent class and id field."""

    module: str
    config_model: str
    agent_class: str
    id_field: str  # the configuration's field that holds the asset id


#: One row per kind (and energy scope); the agent class takes the validated configuration.
_KINDS: dict[tuple[AssetKind, str | None], _Kind] = {
    (AssetKind.MACHINE, None): _Kind("agents.machine", "MachineAsset", "MachineAgent", "id"),
    (AssetKind.INVENTORY, None): _Kind(
        "agents.inventory", "InventoryItem", "InventoryAgent", "asset_id"
    ),
    (AssetKind.ENERGY, "system"): _Kind(
        "agents.energy_plant", "EnergySystem", "PlantEnergyAgent", "system_id"
    ),
    (AssetKind.ENERGY, "meter"): _Kind("agents.energy", "EnergyMeter", "MeterAgent", "meter_id"),
}


def _describe(exc: ValidationError, what: str) -> str:
    kinds = {k.value for k in AssetKind}
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in kinds:  # the discriminated union puts the tag first; not a field
            loc = loc[1:]
        if not loc and err["type"].startswith("union_tag"):
            loc = ["kind"]
        problems.append(f"field {'.'.join(loc) or '(root)'}: {err['msg']}")
    return f"{what} does not validate: " + "; ".join(problems)
