"""Plant configuration: one TOML file, validated by pydantic, errors naming the file and the field.

Secrets never live in the file in clear: a field ending in ``_env`` names the environment variable
that holds the secret, and the value is read into a ``SecretStr`` (printed as ``**********``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agents.errors import ConfigError
from agents.sources.config import SourceSpec, check_sources, parse_sources, sensor_index
from orchestrator.notify.settings import NotificationSettings


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _secret_from_env(
    var: str | None, field: str, environ: Mapping[str, str] | None = None
) -> SecretStr | None:
    if not var:
        return None
    value = (os.environ if environ is None else environ).get(var)
    if not value:
        raise ConfigError(
            f"{field}: environment variable {var!r} is not set (or empty); export it with the "
            f"secret, or remove {field.rsplit('.', 1)[-1]} if no key is needed"
        )
    return SecretStr(value)


class Line(Section):
    id: str
    name: str = ""


class Break(Section):
    """A planned window in every shift (breaks, changeovers) where maintenance can be done."""

    name: str
    start: time
    end: time


class Shift(Section):
    name: str
    start: time
    end: time


class Schedule(Section):
    timezone: str = "UTC"
    shifts: tuple[Shift, ...] = ()
    planned_breaks: tuple[Break, ...] = ()


class HistorySettings(Section):
    """The history store (orchestrator/history): SQLite in the state dir unless ``url`` is set."""

    url: str | None = None  # e.g. "postgresql://autoops@db:5432/autoops"
    retention_days: float | None = Field(default=None, gt=0)  # None: keep everything
    indicator_every_h: float = Field(default=1.0, gt=0)  # downsampling of the indicator series


class StateSettings(Section):
    """Shared state (orchestrator/state): files / SQLite in the state dir unless ``url`` is set.

    With ``url`` (e.g. ``postgresql://autoops:…@db:5432/autoops``, or ``sqlite:////abs/state.sqlite``)
    the decision log, stock reservations, loop progress, web sessions, API tokens and agent
    checkpoints live in that one database, so several processes share them. The password in the
    URL is never logged: put the URL in ``AUTOOPS_STATE_URL`` rather than in the file.
    """

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from orchestrator.state.url import check_url

        return check_url(value)


class Role(Section):
    """A role and the largest amount (currency of the site) one approval by it may cover."""

    approval_limit: float = Field(default=0.0, ge=0)
    can_approve: bool = True
    description: str = ""
    # What the role may do to alarms: respond (acknowledge, shelve, unshelve, note), manage (and
    # assign) or none; unset: by the role's name (orchestrator/alarms/permissions.py).
    alarms: Literal["none", "respond", "manage"] | None = None
    max_shelve_h: float | None = Field(default=None, gt=0)  # unset: a shift, or 7 days to manage


class User(Section):
    name: str = Field(min_length=1)
    display_name: str = ""
    roles: tuple[str, ...] = Field(min_length=1)
    # scrypt hash "scrypt$n$r$p$salt_hex$hash_hex" (see orchestrator/web/passwords.py); never clear text.
    password_hash: str = ""
    # Where notifications for this user's roles go ([notifications] email_users); empty: nowhere.
    email: str = Field(default="", pattern=r"^$|^[^@\s]+@[^@\s]+$")


class Endpoint(Section):
    url: str
    timeout_s: float = Field(default=10.0, gt=0)
    api_key_env: str | None = None

    def api_key(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        """The key from ``api_key_env``; ``ConfigError`` if that variable is unset."""
        return _secret_from_env(self.api_key_env, "api_key_env", environ)


class Endpoints(Section):
    """Where the supplier, CMMS and MES live. Empty = start the embedded reference servers."""

    supplier: Endpoint | None = None
    cmms: Endpoint | None = None
    mes: Endpoint | None = None
    callback_secret_env: str = "AUTOOPS_CALLBACK_SECRET"
    # Knobs of the embedded reference servers ("supplier", "cmms", "mes"), see
    # orchestrator/reference/knobs.py: latency, error rates, callback delays, auto-completion.
    reference: dict[str, dict[str, Any]] = Field(default_factory=dict)


class TemporalSettings(Section):
    address: str | None = None  # None = start the embedded dev server
    namespace: str = "default"
    task_queue: str = "autoops"
    tls: bool = False
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    api_key_env: str | None = None
    ui_port: int = Field(default=8233, gt=0, lt=65536)
    # Web UI of an external cluster, linked from autoops' web UI; empty = no link.
    ui_url: str = ""
    port: int = Field(default=7233, gt=0, lt=65536)

    def api_key(self, environ: Mapping[str, str] | None = None) -> SecretStr | None:
        return _secret_from_env(self.api_key_env, "temporal.api_key_env", environ)


class RaySettings(Section):
    address: str | None = None  # None = start local Ray
    namespace: str = "autoops"
    num_cpus: int | None = Field(default=None, gt=0)
    shard_size: int = Field(default=1, ge=1)
    # A local Ray's servers listen here (loopback: nothing is reachable from the plant network).
    node_ip_address: str = "127.0.0.1"
    # Ray's dashboard, for a deployment that wants it (on node_ip_address, port 8265).
    include_dashboard: bool = False
    # What the machine agents publish: a report per reading ("every_reading"), or a report when
    # what it says changes -- status, an indicator's level, sensor faults, findings -- and a
    # heartbeat every heartbeat_s of reading time ("on_change"): a large plant at 1 Hz, where
    # a report per reading per asset is most of the loop's work (issue 16). Keep heartbeat_s
    # well inside the policies' stale_after.
    publish: Literal["every_reading", "on_change"] = "every_reading"
    heartbeat_s: float = Field(default=60.0, gt=0)
    # When the agents save their state (agents/runtime/actor.py): after every batch (unset), or
    # each agent once every checkpoint_every_s seconds, the agents' turns spread over that time
    # (at 10,000 assets and 1 Hz, saving every agent after every batch is 10,000 writes a second).
    # A crash then re-assesses at most that much of each agent's readings, if they are delivered
    # again (live sources' buffer), or loses them from its state otherwise.
    checkpoint_every_s: float | None = Field(default=None, gt=0)


class LoopSettings(Section):
    """The loop's partitions (``autoops loop``): assets are split by a stable hash of their id
    (orchestrator/partitions.py) and each partition is run by exactly one live loop process,
    which holds its lease (orchestrator/lease.py; PostgreSQL advisory locks with ``[state] url``).
    Without PostgreSQL one process runs every partition."""

    partitions: int = Field(default=1, ge=1, le=1024)
    # Seconds between the lease checks of a loop process (taking over a dead owner's partitions
    # takes about this long once the database has released its locks).
    lease_poll_s: float = Field(default=1.0, gt=0, le=60)


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)
    # Mark the session cookie Secure (sent over HTTPS only). Turn it on whenever people reach the
    # UI over HTTPS (a TLS proxy in front); browsers then never send the cookie in clear.
    secure_cookies: bool = False
    # Where the partners send their callbacks (a web process, or the address in front of the web
    # processes); empty: http://<host>:<port> above. Workers tell the partners this address.
    callback_url: str = Field(default="", pattern=r"^$|^https?://[^\s/]+(/[^\s]*)?$")


class ApprovalSettings(Section):
    """Approval rules the workflows are started with (tiers default to lead, then plant manager)."""

    auto_approve_limit: float = Field(default=0.0, ge=0)
    # Cost tiers, lowest first: {name, above, roles, min_approvers, deadline_s} (workflows.models.ApprovalTier).
    # Empty: the default ladder (maintenance lead / buyer, then the plant manager above 5000).
    tiers: tuple[dict[str, Any], ...] = ()
    # Remind the approvers this many seconds before each tier's deadline ([] = no reminders).
    remind_before_s: tuple[float, ...] = Field(default=(3600.0,))

    @model_validator(mode="after")
    def _positive_reminders(self) -> ApprovalSettings:
        if any(r <= 0 for r in self.remind_before_s):
            raise ValueError(f"remind_before_s: {list(self.remind_before_s)} must be seconds > 0 before the deadline")
        return self


class Owners(Section):
    """Which role owns each asset: a flagged asset's review goes to it (``[owners]``).

    One role per asset kind, and per asset where that differs (``assets = { "C-1" = "..." }``).
    Checked at load when the plant declares roles: each owner of an asset kind the plant has (and
    each per-asset owner) must be a declared role that some user holds, or nobody could close it.
    """

    machine: str = "maintenance_lead"  # machines and the instruments on them
    inventory: str = "buyer"  # stock of a SKU
    energy: str = "maintenance_lead"  # energy systems and their meters (the compressor)
    assets: dict[str, str] = Field(default_factory=dict)


class PolicySettings(Section):
    extra_dirs: tuple[Path, ...] = ()
    # policy id -> parameter overrides; per asset / line: policy id -> {"asset:<id>": {...}}
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # policies.budget.Budget: automatic actions / spend per site and day before a person must sign
    budget: dict[str, Any] = Field(default_factory=dict)
    # policy id -> the most autonomy its actions may have here: suggest | approve | auto
    autonomy: dict[str, str] = Field(default_factory=dict)


class PlantConfig(Section):
    site: str = Field(min_length=1)
    name: str = ""
    currency: str = "EUR"
    state_dir: Path = Path(".autoops")
    lines: tuple[Line, ...] = ()
    # Assets are kept as raw tables here and typed by the agents' own models (agents/registry.py),
    # so that adding an asset kind needs no change in this file.
    machines: tuple[dict[str, Any], ...] = ()
    inventory: tuple[dict[str, Any], ...] = ()
    energy: tuple[dict[str, Any], ...] = ()
    # The digital twins that drive the assets in the demo / benchmarks (agents.simulator.plant).
    simulation: dict[str, Any] = Field(default_factory=dict)
    # Live sources and the sensors their tags feed (agents.sources.config), typed in _references.
    sources: tuple[dict[str, Any], ...] = ()
    schedule: Schedule = Schedule()
    roles: dict[str, Role] = Field(default_factory=dict)
    users: tuple[User, ...] = ()
    policies: PolicySettings = PolicySettings()
    approvals: ApprovalSettings = ApprovalSettings()
    owners: Owners = Owners()
    endpoints: Endpoints = Endpoints()
    temporal: TemporalSettings = TemporalSettings()
    ray: RaySettings = RaySettings()
    loop: LoopSettings = LoopSettings()
    web: WebSettings = WebSettings()
    notifications: NotificationSettings = NotificationSettings()
    history: HistorySettings = HistorySettings()
    state: StateSettings = StateSettings()
    _sources: tuple[SourceSpec, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _references(self) -> PlantConfig:
        if self.sources:
            try:
                typed = parse_sources(self.sources)
            except ValidationError as exc:
                raise ValueError(
                    "; ".join(
                        _problem(_source_loc(err["loc"]), err["msg"])
                        for err in exc.errors(include_url=False)
                    )
                ) from None
            index = sensor_index(self.machines, self.inventory, self.energy)
            problems = check_sources(typed, index)
            if problems:
                raise ValueError("; ".join(problems))
            self._sources = typed
        line_ids = {line.id for line in self.lines}
        for index, machine in enumerate(self.machines):
            line = machine.get("line")
            if line is not None and line_ids and (not isinstance(line, str) or line not in line_ids):
                raise ValueError(
                    f"machines[{index}].line: unknown line {line!r}; lines are {sorted(line_ids)}"
                )
        names = [u.name for u in self.users]
        if len(names) != len(set(names)):
            raise ValueError(f"users: duplicate user names in {names}")
        for user in self.users:
            for role in user.roles:
                if role not in self.roles:
                    raise ValueError(
                        f"users.{user.name}.roles: unknown role {role!r}; declared roles are {sorted(self.roles)}"
                    )
        problems = self._owner_problems()
        problems += self.notifications.problems(roles=set(self.roles), lines=line_ids)
        if self.notifications.enabled and not self.notifications.base_url and self.web.host in ("0.0.0.0", "::", ""):
            problems.append(
                f"notifications.base_url: links in notifications need the address people open the web UI "
                f"at ([web] host {self.web.host!r} listens everywhere); set e.g. base_url = \"https://autoops.plant.example\""
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _asset_ids(self) -> dict[str, list[str]]:
        """Asset ids by kind, as the agents report them (an energy system and its meters)."""
        energy = [str(t.get("system_id")) for t in self.energy]
        energy += [str(m.get("meter_id")) for t in self.energy for m in t.get("meters") or () if isinstance(m, dict)]
        return {
            "machine": [str(t.get("id")) for t in self.machines],
            "inventory": [str(t.get("sku")) for t in self.inventory],
            "energy": energy,
        }

    def _owner_problems(self) -> list[str]:
        if not self.roles:  # a plant without people (a test, a bare `autoops run`): nothing to check
            return []
        held = {role for user in self.users for role in user.roles}
        wanted = [(f"owners.{kind}", getattr(self.owners, kind)) for kind, ids in self._asset_ids().items() if ids]
        wanted += [(f"owners.assets.{asset}", role) for asset, role in self.owners.assets.items()]
        problems = []
        for where, role in wanted:
            if role not in self.roles:
                problems.append(
                    f"{where}: unknown role {role!r}; declared roles are {sorted(self.roles)} "
                    "(a flagged asset's review goes to its owning role)"
                )
            elif self.users and role not in held:
                problems.append(
                    f"{where}: no user holds role {role!r}, so nobody could close a review of the "
                    "asset; give the role to a user in [[users]] or name another role"
                )
        return problems

    def owner_of(self, asset_id: str) -> str:
        """The role that owns ``asset_id``: its own ``[owners.assets]`` entry, else its kind's."""
        if asset_id in self.owners.assets:
            return self.owners.assets[asset_id]
        for kind, ids in self._asset_ids().items():
            if asset_id in ids:
                return str(getattr(self.owners, kind))
        return self.owners.machine

    def owners_by_asset(self) -> dict[str, str]:
        """Every asset of the plant with its owning role (what the workflows are started with)."""
        out = {asset: str(getattr(self.owners, kind)) for kind, ids in self._asset_ids().items() for asset in ids}
        return {**out, **self.owners.assets}

    def source_specs(self) -> tuple[SourceSpec, ...]:
        """The typed ``[[sources]]``, their tags bound to the sensors' units."""
        return self._sources

    def unsourced_assets(self) -> list[str]:
        """Assets no source feeds: without a simulation, they will never report."""
        fed = {tag.asset for spec in self._sources for tag in spec.tags}
        ids = [str(t.get("id")) for t in self.machines]
        ids += [str(t.get("sku")) for t in self.inventory]
        ids += [str(t.get("system_id")) for t in self.energy]
        return [a for a in ids if a not in fed]

    def user(self, name: str) -> User | None:
        return next((u for u in self.users if u.name == name), None)

    def approval_limit(self, user: User) -> float:
        """The largest amount this user may approve: the highest limit among their approving roles."""
        limits = [self.roles[r].approval_limit for r in user.roles if self.roles[r].can_approve]
        return max(limits, default=0.0)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _problem(loc: tuple[int | str, ...], msg: str) -> str:
    """``field.path: message``; a validator's own "field: message" extends the path."""
    msg = msg.removeprefix("Value error, ")
    head, sep, rest = msg.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.\[\]]*", head):
        path = _field_path(loc)
        joined = head if not loc else (f"{path}{head}" if head.startswith("[") else f"{path}.{head}")
        return f"{joined}: {rest}"
    return f"{_field_path(loc)}: {msg}" if loc else msg


def _source_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # A discriminated union puts the kind in the path (sources.0.opcua.tags.1): drop it.
    return tuple(p for i, p in enumerate(loc) if not (i == 2 and p in ("opcua", "mqtt", "modbus")))


def parse_config(data: dict[str, Any], *, source: str = "<config>") -> PlantConfig:
    """Validate a parsed TOML document; raise ``ConfigError`` naming the source and the field."""
    try:
        return PlantConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            _problem(err['loc'], err["msg"]) for err in exc.errors(include_url=False)
        )
        raise ConfigError(f"invalid plant configuration: {problems}", file=source) from None


#: Environment variables that override one configuration field each (containers set these).
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "AUTOOPS_STATE_DIR": ("state_dir",),
    "AUTOOPS_STATE_URL": ("state", "url"),  # holds the database password: set it here, not in the file
    "AUTOOPS_TEMPORAL_ADDRESS": ("temporal", "address"),
    "AUTOOPS_TEMPORAL_NAMESPACE": ("temporal", "namespace"),
    "AUTOOPS_TEMPORAL_TASK_QUEUE": ("temporal", "task_queue"),
    "AUTOOPS_TEMPORAL_PORT": ("temporal", "port"),  # embedded dev server only
    "AUTOOPS_TEMPORAL_UI_PORT": ("temporal", "ui_port"),
    "AUTOOPS_TEMPORAL_UI_URL": ("temporal", "ui_url"),
    "AUTOOPS_RAY_ADDRESS": ("ray", "address"),
    "AUTOOPS_WEB_HOST": ("web", "host"),
    "AUTOOPS_WEB_PORT": ("web", "port"),
    "AUTOOPS_WEB_SECURE_COOKIES": ("web", "secure_cookies"),
    "AUTOOPS_CALLBACK_URL": ("web", "callback_url"),
    "AUTOOPS_LOOP_PARTITIONS": ("loop", "partitions"),
    "AUTOOPS_SUPPLIER_URL": ("endpoints", "supplier", "url"),
    "AUTOOPS_CMMS_URL": ("endpoints", "cmms", "url"),
    "AUTOOPS_MES_URL": ("endpoints", "mes", "url"),
}


def _apply_env_overrides(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    data = {**data}
    for var, path in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        node = data
        for key in path[:-1]:
            node[key] = node = {**node.get(key, {})}
        node[path[-1]] = environ[var]
    return data


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> PlantConfig:
    """Read and validate a plant configuration file, then apply ``AUTOOPS_*`` overrides."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "file not found; pass --config with a plant TOML file", file=str(path)
        ) from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(
            f"cannot read the plant file ({exc.strerror or exc}); pass --config with a plant "
            "TOML file",
            file=str(path),
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None
    except RecursionError:
        # tomllib recurses once per nesting level; thousands of levels are no configuration.
        raise ConfigError(
            "not valid TOML: arrays or tables nested too deeply", file=str(path)
        ) from None
    env = dict(os.environ) if environ is None else environ
    data = _apply_env_overrides(data, env)
    config = parse_config(data, source=str(path))
    _check_secrets(config, env, source=str(path))
    return config


def _check_secrets(config: PlantConfig, environ: Mapping[str, str], *, source: str) -> None:
    """Every ``*_env`` secret the file names must be set now, not at the first partner call."""
    named: list[tuple[str, str | None]] = [
        (f"endpoints.{name}.api_key_env", getattr(config.endpoints, name).api_key_env)
        for name in ("supplier", "cmms", "mes")
        if getattr(config.endpoints, name) is not None
    ]
    named.append(("temporal.api_key_env", config.temporal.api_key_env))
    smtp = config.notifications.smtp
    if smtp is not None:
        named.append(("notifications.smtp.password_env", smtp.password_env))
    named += [
        (f"notifications.webhooks[{i}].secret_env", hook.secret_env)
        for i, hook in enumerate(config.notifications.webhooks)
    ]
    for field, var in named:
        try:
            _secret_from_env(var, field, environ)
        except ConfigError as exc:
            raise ConfigError(str(exc), file=source) from None
