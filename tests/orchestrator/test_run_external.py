"""``autoops run --config plant.toml`` the way a plant runs it: against a Temporal server, a Ray
head and partner systems that someone else started, and which must still be running after the
orchestrator stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.config import load_config
from orchestrator.reference.serve import ReferenceStack, start_reference_servers
from orchestrator.services import supplier_catalog
from orchestrator.temporal import DevServer, connect, free_port, start_dev_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE_PLANT = REPO / "orchestrator" / "plants" / "precision_components.toml"
SECRET = "external-callback-secret"
# Ray rewrites a 127.0.0.1 cluster address into the machine's network address unless "clusters"
# are off, which only keeps a one-node head (and drivers joining it) on loopback: this test's
# traffic stays on 127.0.0.1. The head requires a token, as a plant's should; the orchestrator
# gets it the way Ray documents (RAY_AUTH_MODE / RAY_AUTH_TOKEN), not from ~/.ray.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


# ---- the services a plant's operators run, started here by the test --------------------------
@dataclass
class RayHead:
    address: str  # the GCS address, as a driver on a node of the cluster joins it
    client_address: str  # ray://, the Ray Client server, as a driver anywhere joins it
    temp_dir: Path
    pgid: int  # `ray start` ran in its own session: its daemons keep that process group

    def processes(self) -> list[int]:
        """Pids of this head: its process group, and anything with its temp dir on the command line
        (Ray's agents rename themselves, so the group is the surer of the two)."""
        marker = str(self.temp_dir).encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # dead already, waiting for its parent to reap it
                if os.getpgid(int(proc.name)) == self.pgid or marker in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except (OSError, ProcessLookupError, IndexError):
                continue
        return pids

    def kill(self) -> None:
        # Never `ray stop`: it ends every Ray on the machine, this test session's included.
        for _ in range(3):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, signal.SIGKILL)
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _start_ray_head() -> RayHead:
    temp_dir = Path(tempfile.mkdtemp(prefix="aoh-", dir="/tmp"))  # short: Ray's socket paths
    port, client_port = free_port(), free_port()
    args = [
        str(BIN / "ray"), "start", "--head",
        "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
        "--object-store-memory=100000000",
        f"--temp-dir={temp_dir}", "--include-dashboard=false", "--disable-usage-stats",
        # Every fixed default port could be taken by another Ray on this machine: pick free ones
        # (the minimal dashboard still runs, on 8265 unless told otherwise).
        f"--dashboard-port={free_port()}",
        f"--ray-client-server-port={client_port}", f"--node-manager-port={free_port()}",
        f"--object-manager-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
        f"--dashboard-agent-grpc-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
        f"--metrics-export-port={free_port()}",
    ]
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **RAY_ENV}
    process = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    head = RayHead(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}", temp_dir, process.pid)
    try:
        _, err = process.communicate(timeout=60)
    except BaseException:
        head.kill()
        raise
    if process.returncode != 0:
        head.kill()
        raise AssertionError(f"ray start failed ({process.returncode}): {err[-2000:]}")
    return head


def _ray_named_actors(address: str) -> list[dict[str, str]]:
    """Named actors on the head, asked by a separate driver (this session may have its own Ray)."""
    code = (
        "import json, ray\n"
        f"ray.init(address={address!r}, log_to_driver=False)\n"
        "print('ACTORS=' + json.dumps(ray.util.list_named_actors(all_namespaces=True)))\n"
        "ray.shutdown()\n"
    )
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **RAY_ENV}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("ACTORS="))
    return json.loads(line.removeprefix("ACTORS="))


def _plant_file(path: Path, *, state_dir: Path, temporal: str | None, ray: str | None,
                reference: ReferenceStack, web_port: int) -> Path:
    """The sample plant with the addresses of the services above, as an operator would edit it."""
    text = SAMPLE_PLANT.read_text()
    text = re.sub(r'(?m)^state_dir = .*$', f'state_dir = "{state_dir}"', text)
    if temporal:
        text = text.replace("[temporal]\n", f'[temporal]\naddress = "{temporal}"\n', 1)
    if ray:
        text = text.replace("[ray]\n", f'[ray]\naddress = "{ray}"\n', 1)
    text = re.sub(r"(\[web\]\nhost = .*\n)port = \d+", rf"\g<1>port = {web_port}", text)
    for name in ("supplier", "cmms", "mes"):
        text += f'\n[endpoints.{name}]\nurl = "{getattr(reference, name + "_url")}"\n'
    path.write_text(text)
    return path


@dataclass
class Run:
    """``autoops run`` in its own process group; its output collected by a reader thread."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def tail(self) -> str:
        return "".join(self.lines)[-4000:]

    def wait_for_line(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.process.poll() is not None:
                time.sleep(0.5)  # let the reader drain what the process printed last
                raise AssertionError(f"autoops run exited {self.process.returncode}:\n{self.tail}")
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r} after {timeout_s} s:\n{self.tail}")

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def _start_run(plant: Path, env: dict[str, str]) -> Run:
    process = subprocess.Popen(
        [str(BIN / "autoops"), "run", "--config", str(plant), "--tick", "0.2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: killed as one if the test fails
    )
    return Run(process)


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AUTOOPS_") and k != "RAY_ADDRESS"
    }
    return {**env, "PYTHONUNBUFFERED": "1", **RAY_ENV, **extra}


@pytest.fixture
def external(tmp_path: Path) -> Iterator[tuple[DevServer, RayHead, ReferenceStack]]:
    """A Temporal dev server, a Ray head and the partner servers; all gone afterwards."""
    plant = load_config(SAMPLE_PLANT)
    head = _start_ray_head()
    temporal = reference = None
    try:
        temporal = asyncio.run(start_dev_server(tmp_path / "temporal-server", headless=True))
        secret = SecretStr(SECRET)
        reference = start_reference_servers(
            tmp_path / "partners",
            callback_secrets={"supplier": secret, "cmms": secret},
            catalog=supplier_catalog(plant),  # type: ignore[arg-type]
        )
        yield temporal, head, reference
    finally:
        if reference is not None:
            reference.stop()
        if temporal is not None:
            temporal.stop()
        head.kill()
    # Reached only when the test did not fail (a failure must not be hidden by this one).
    for _ in range(20):  # bounded: SIGKILLed processes take a moment to go
        if not (left := head.processes()):
            break
        time.sleep(0.25)
    assert left == [], f"the Ray head's processes outlived the test: {left}"


async def _workflow_ids(address: str) -> set[str]:
    client = await connect(address=address)
    return {wf.id async for wf in client.list_workflows()}


@pytest.mark.parametrize("ray_via", ["gcs", "ray-client"])
async def test_run_against_external_services(
    tmp_path: Path, external: tuple[DevServer, RayHead, ReferenceStack], ray_via: str
) -> None:
    """gcs: the orchestrator on a node of the cluster; ray-client: from outside it (ray://, as
    deploy/compose.yaml and the Kubernetes manifests run it)."""
    temporal, head, reference = external
    ray_address = head.address if ray_via == "gcs" else head.client_address
    state = tmp_path / "state"
    web_port = free_port()
    plant = _plant_file(
        tmp_path / "plant.toml", state_dir=state, temporal=temporal.address, ray=ray_address,
        reference=reference, web_port=web_port,
    )
    run = _start_run(plant, _env(AUTOOPS_CALLBACK_SECRET=SECRET))
    try:
        url = run.wait_for_line(r"web UI (http://\S+?)/? ", timeout_s=240).group(1)
        assert url == f"http://127.0.0.1:{web_port}"
        where = run.wait_for_line(r"Temporal (\S+), .*; Ray (\S+)", timeout_s=60)
        assert where.groups() == (temporal.address, ray_address)
        with httpx.Client(base_url=url, timeout=10) as web:
            login = web.get("/login")
            assert login.status_code == 200 and "password" in login.text.lower()
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
            signed_in = web.post(
                "/login", data={"username": "ana", "password": "ana-demo", "csrf_token": csrf},
                follow_redirects=True,
            )
            assert signed_in.status_code == 200 and "Sign out" in signed_in.text
            # No [temporal] ui_url in the plant file: no "Temporal UI" link to an embedded
            # server (127.0.0.1:8233) that this process never started.
            assert "Temporal UI" not in signed_in.text and ":8233" not in signed_in.text

        # The material shortage on line B shows up at ~65 simulated hours: its purchase-order
        # workflow lands on the external Temporal server.
        deadline = time.monotonic() + 300  # generous: a busy CI box ticks slowly
        ids: set[str] = set()
        while time.monotonic() < deadline and not any(i.startswith("po:") for i in ids):
            await asyncio.sleep(1.0)
            ids = await _workflow_ids(temporal.address)
        assert any(i.startswith("po:precision-components:") for i in ids), (ids, run.tail)

        # The agents are actors on the external Ray head, in the plant's namespace.
        actors = _ray_named_actors(head.address)
        names = {a["name"] for a in actors if a["namespace"] == "autoops"}
        assert {"asset:mill-1", "asset:lathe-1"} <= names, actors

        started = time.monotonic()
        run.process.send_signal(signal.SIGTERM)  # as a service manager stops it: the process only
        code = run.process.wait(timeout=120)
        took = time.monotonic() - started
    finally:
        run.kill()
    print(f"autoops run stopped on SIGTERM in {took:.1f} s")
    assert code == 0, run.tail
    assert "Traceback" not in "".join(run.lines), run.tail
    progress = json.loads((state / "progress.json").read_text())
    assert progress["ticks"] > 0  # saved on the way out; how many depends on the machine's speed
    assert any(i.startswith("po:") for i in {**progress["workflows"], **progress.get("closed", {})})
    assert any((state / "checkpoints").rglob("*")), "the agents on the head saved no checkpoint"

    # What the orchestrator did not start, it left running.
    assert temporal.process.poll() is None, "the external Temporal server was stopped"
    assert any(i.startswith("po:") for i in await _workflow_ids(temporal.address))
    assert head.processes(), "the external Ray head was stopped"
    _ray_named_actors(head.address)  # still answers a new driver
    assert httpx.get(f"{reference.mes_url}/", timeout=5).status_code < 500


def test_external_partners_without_callback_secret_fail_clearly(tmp_path: Path) -> None:
    """Partners that sign their callbacks need the shared secret: no secret, no start."""

    @dataclass
    class Urls:
        supplier_url: str = "http://127.0.0.1:9/supplier"
        cmms_url: str = "http://127.0.0.1:9/cmms"
        mes_url: str = "http://127.0.0.1:9/mes"

    plant = _plant_file(
        tmp_path / "plant.toml", state_dir=tmp_path / "state", temporal="127.0.0.1:9", ray=None,
        reference=Urls(), web_port=free_port(),  # type: ignore[arg-type]
    )
    done = subprocess.run(
        [str(BIN / "autoops"), "run", "--config", str(plant)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.startswith("error:") and "AUTOOPS_CALLBACK_SECRET" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
