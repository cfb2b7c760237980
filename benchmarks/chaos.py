"""Chaos run: many workflows against faulty partners while processes are killed at random.

    .venv/bin/python benchmarks/chaos.py [--workflows 200] [--fault-rate 0.1] [--kills 16]
                                         [--seed 1] [--json] [--keep]

What runs, all on 127.0.0.1, state in a temp dir:
- the Temporal dev server (its own process, SQLite file);
- the reference supplier / CMMS / MES (in this process) answering a share ``--fault-rate`` of
  requests with 503, half that with 429 and half that with a truncated JSON body (after doing
  the work: the case idempotency keys exist for), and now and then down (all 503) or slower than
  the client's timeout for a few seconds;
- two nodes (``benchmarks/chaos_node.py``): the "orchestrator" (callback intake + Temporal worker)
  and a second Temporal worker, on one task queue;
- a local Ray with four machine agents, fed one reading per asset every 0.2 s (re-sent until
  accepted, as a store-and-forward source would).

``--workflows`` part orders (70 %), instrument work orders (20 %) and maintenance jobs (10 %) are
started at a steady pace, all autonomous (no approval gate), while ``--kills`` SIGKILLs hit, in
turn, the orchestrator node, the worker node, the Temporal dev server (restarted on its SQLite
file) and a Ray actor (restarted by Ray). Then the faults stop and every workflow must end:
completed, or waiting in "attention" for a person with its reason.

Checked at the end, from the partners' own ledgers: ``duplicates_po`` (a part-order workflow
with more than one supplier order), ``duplicates_wo`` (a workflow with more than one CMMS work
order), ``lost_readings`` (readings sent to the agents that never got a report). Also printed:
``kills``, ``max_recovery_s`` (from a kill, or from the restart of what was killed, to it
answering again: the intake, the worker polling, Temporal answering, the actor ingesting).

Prints only; exits 1 if a check fails. Not a test: the figures depend on the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from temporalio.client import Client, WorkflowExecutionStatus  # noqa: E402

from agents.base import Reading  # noqa: E402
from agents.errors import AutoopsError  # noqa: E402
from agents.registry import MachineAgentSpec  # noqa: E402
from orchestrator.reference.knobs import CmmsKnobs, Knobs, SupplierKnobs  # noqa: E402
from orchestrator.reference.serve import ReferenceStack, start_reference_servers  # noqa: E402
from orchestrator.temporal import DevServer, connect, free_port, start_dev_server  # noqa: E402
from policies.models import (  # noqa: E402
    Autonomy,
    CreateWorkOrder,
    OrderParts,
    PartLine,
    Priority,
    ScheduleMaintenance,
)
from workflows.models import (  # noqa: E402
    ApprovalPolicy,
    ApprovalState,
    ApprovalStatus,
    ApprovalTier,
    MaintenanceInput,
    PartnerRetry,
    PartOrderInput,
    WorkOrderInput,
    part_order_id_for_po,
    workflow_id_for_ref,
)
from workflows.starters import start_maintenance, start_part_order, start_work_order  # noqa: E402

log = logging.getLogger("chaos")
SECRETS = {"supplier": "chaos-supplier-secret", "cmms": "chaos-cmms-secret"}
QUEUE = "chaos"
#: Nobody signs in this run: everything below the auto limit goes through on its own.
POLICY = ApprovalPolicy(auto_approve_limit=1_000_000.0, tiers=(ApprovalTier(name="buyer", roles=("buyer",)),),
                        role_limits={"buyer": 1_000_000.0})
#: Retries outlast the partners' short outages (~25 s of back-off); longer ones go to a person.
RETRY = PartnerRetry(timeout_s=3.0, initial_interval_s=0.5, backoff=2.0, max_interval_s=5.0, max_attempts=9)
MACHINES = ("mill-1", "mill-2", "lathe-1", "lathe-2")  # known to the reference MES
SKUS = (("BRG-6205-2RS", 14.5), ("BELT-XPZ-1250", 22.0), ("BRG-6308-ZZ", 38.0))


# --------------------------------------------------------------------------- processes

@dataclass
class Node:
    """A chaos node process (orchestrator or worker) that can be killed and started again."""

    name: str
    cfg: dict[str, Any]
    log_file: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        out = self.log_file.open("a")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "benchmarks" / "chaos_node.py"), json.dumps(self.cfg)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=out, text=True, start_new_session=True,
        )

    def wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None and self.process.stdout is not None
        done = threading.Event()
        line: list[str] = []

        def read() -> None:
            line.append(self.process.stdout.readline())  # type: ignore[union-attr]
            done.set()

        threading.Thread(target=read, daemon=True).start()
        if not done.wait(timeout_s) or not line or line[0].strip() != "ready":
            tail = "".join(self.log_file.read_text(errors="replace").splitlines(keepends=True)[-15:])
            code = self.process.poll()
            raise RuntimeError(
                f"{self.name} did not get ready within {timeout_s} s (exit code {code}); "
                f"its log {self.log_file} ends:\n{tail}"
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@dataclass
class Run:
    args: argparse.Namespace
    state: Path
    rng: random.Random
    temporal: DevServer
    temporal_port: int
    partners: ReferenceStack
    nodes: dict[str, Node]
    intake_url: str
    fleet: Any
    workflows: dict[str, str] = field(default_factory=dict)  # workflow id -> kind
    kills: list[dict[str, Any]] = field(default_factory=list)
    readings_sent: set[tuple[str, datetime]] = field(default_factory=set)
    readings_reported: set[tuple[str, datetime]] = field(default_factory=set)
    stop_readings: threading.Event = field(default_factory=threading.Event)


async def _client(run: Run) -> Client:
    deadline = time.monotonic() + 120
    while True:
        try:
            return await connect(address=run.temporal.address)
        except Exception:  # noqa: BLE001  Temporal is being restarted by the chaos: wait
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


# --------------------------------------------------------------------------- load

def _inputs(i: int, rng: random.Random) -> tuple[str, Any, dict[str, Any]]:
    site = f"chaos{i:04d}"
    roll = rng.random()
    if roll < 0.7:
        sku, price = rng.choice(SKUS)
        inp = PartOrderInput(
            site=site, order=OrderParts(supplier="reference", currency="EUR",
                                        lines=(PartLine(sku=sku, quantity=rng.randint(2, 20), unit_price=price),)),
            autonomy=Autonomy.AUTO, approval=POLICY, decision_id=f"chaos-{i}", confirmation_timeout_s=15, retry=RETRY,
        )
        return "part_order", inp, {"n": i}
    asset = rng.choice(MACHINES)
    if roll < 0.9:
        inp = WorkOrderInput(
            site=site, action=CreateWorkOrder(asset_id=asset, priority=Priority.P3, instrument_check=True,
                                              sensor="temp", title=f"check instrument temp on {asset}"),
            approval=POLICY, decision_id=f"chaos-{i}", completion_timeout_s=15, retry=RETRY,
        )
        return "work_order", inp, {"dedup_key": f"wo:{site}:{asset}:instrument:temp"}
    inp = MaintenanceInput(
        site=site, action=ScheduleMaintenance(asset_id=asset, task="replace spindle bearings", duration_h=2.0,
                                              priority=Priority.P3),
        autonomy=Autonomy.AUTO, approval=POLICY, decision_id=f"chaos-{i}", completion_timeout_s=15,
        health_timeout_s=120, health_poll_s=2, retry=RETRY,
    )
    return "maintenance", inp, {}


async def start_workflows(run: Run, pace_s: float) -> None:
    starters = {"part_order": start_part_order, "work_order": start_work_order, "maintenance": start_maintenance}
    rng = random.Random(run.args.seed)
    for i in range(run.args.workflows):
        kind, inp, extra = _inputs(i, rng)
        while True:  # Temporal may be down right now: the same start again is harmless (business id)
            try:
                client = await _client(run)
                handle = await starters[kind](client, inp, task_queue=QUEUE, **extra)
                run.workflows[handle.id] = kind
                break
            except Exception as exc:  # noqa: BLE001  retried: the start is idempotent by id
                log.info("start %d (%s) failed, retrying: %s", i, kind, exc)
                await asyncio.sleep(0.5)
        await asyncio.sleep(pace_s)


def feed_readings(run: Run) -> None:
    """One reading per asset every 0.2 s, each batch re-sent until the agents accept it."""
    t0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    tick = 0
    while not run.stop_readings.is_set():
        time_ = t0 + timedelta(minutes=10 * tick)
        batch = [Reading(f"agent-{a}", time_, {"vib": 1.2 + 0.05 * (tick % 4), "temp": 41.0 + 0.3 * (tick % 3)})
                 for a in range(4)]
        run.readings_sent.update((r.asset_id, r.time) for r in batch)
        for _ in range(600):  # bounded: ~5 minutes of retries
            try:
                reports = run.fleet.ingest(batch)
                run.readings_reported.update((r.asset_id, r.time) for r in reports)
                break
            except AutoopsError as exc:
                log.info("ingest failed, re-sending: %s", exc)
                time.sleep(0.5)
        tick += 1
        time.sleep(0.2)


# --------------------------------------------------------------------------- chaos

async def _until(check: Any, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except Exception:  # noqa: BLE001  not back yet
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"did not recover within {timeout_s} s")


async def kill_one(run: Run, what: str) -> dict[str, Any]:
    rng = run.rng
    down_s = round(rng.uniform(0.5, 3.0), 2)
    record: dict[str, Any] = {"what": what, "at": datetime.now(UTC).isoformat(timespec="seconds"), "down_s": down_s}
    if what in ("orchestrator", "worker"):
        node = run.nodes[what]
        node.kill()
        await asyncio.sleep(down_s)
        back = time.monotonic()
        node.start()
        await asyncio.to_thread(node.wait_ready, 180)
        if what == "orchestrator":
            async def intake_answers() -> bool:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.post(f"{run.intake_url}/callbacks/supplier", content=b"{}")).status_code == 401
            await _until(intake_answers)
    elif what == "temporal":
        os.kill(run.temporal.process.pid, signal.SIGKILL)
        run.temporal.process.wait(timeout=30)
        await asyncio.sleep(down_s)
        back = time.monotonic()
        run.temporal = await start_dev_server(run.state / "temporal", port=run.temporal_port, headless=True)

        async def answers() -> bool:
            client = await connect(address=run.temporal.address)
            async for _ in client.list_workflows(page_size=1):
                break
            return True
        await _until(answers)
    else:  # a Ray actor: Ray restarts it; the readings thread re-sends what it did not answer
        asset = f"agent-{rng.randrange(4)}"
        record["actor"] = await asyncio.to_thread(run.fleet.kill, asset, restart=True)
        back = time.monotonic()
        probe_time = datetime(2020, 1, 1, tzinfo=UTC)  # older than every reading: a duplicate, assessed never

        async def actor_answers() -> bool:
            await asyncio.to_thread(run.fleet.ingest, [Reading(asset, probe_time, {"vib": 1.0, "temp": 40.0})])
            return True
        await _until(actor_answers)
    record["recovery_s"] = round(time.monotonic() - back, 2)
    return record


async def chaos(run: Run, duration_s: float) -> None:
    kinds = ("orchestrator", "worker", "temporal", "ray_actor")
    moments = sorted(run.rng.uniform(0.05, 0.95) * duration_s for _ in range(run.args.kills))
    started = time.monotonic()
    for n, at in enumerate(moments):
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        record = await kill_one(run, kinds[n % len(kinds)])
        run.kills.append(record)
        log.warning("kill %d/%d: %s", n + 1, run.args.kills, record)


async def partner_trouble(run: Run, duration_s: float) -> None:
    """Now and then one partner is down (all 503) or slower than the client's timeout for a while."""
    panels = {"supplier": run.partners.supplier, "cmms": run.partners.cmms, "mes": run.partners.mes}
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        await asyncio.sleep(run.rng.uniform(5, 15))
        name = run.rng.choice(sorted(panels))
        knobs = panels[name].app.state.knobs
        before = knobs.knobs.model_dump()
        trouble = {"error_rate": 1.0} if run.rng.random() < 0.5 else {"latency_s": RETRY.timeout_s + 1.0}
        knobs.update(trouble)
        await asyncio.sleep(run.rng.uniform(2, 6))
        knobs.update({k: before[k] for k in trouble})


# --------------------------------------------------------------------------- the end

async def settle(run: Run, timeout_s: float) -> dict[str, Any]:
    """Wait until every workflow is closed or waits for a person; return the outcome of each."""
    deadline = time.monotonic() + timeout_s
    outcome: dict[str, dict[str, Any]] = {}
    while True:
        client = await _client(run)
        for wf_id in run.workflows:
            if wf_id in outcome and outcome[wf_id]["state"] != "attention":
                continue
            desc = await client.get_workflow_handle(wf_id).describe()
            if desc.status == WorkflowExecutionStatus.COMPLETED:
                result = await client.get_workflow_handle(wf_id).result()
                outcome[wf_id] = {"state": "completed", "result": result.get("status", "")}
            elif desc.status == WorkflowExecutionStatus.RUNNING:
                status = await client.get_workflow_handle(wf_id).query("approval", result_type=ApprovalStatus)
                if status.state == ApprovalState.ATTENTION:
                    outcome[wf_id] = {"state": "attention", "reason": status.reason}
                else:
                    outcome.pop(wf_id, None)
            else:
                outcome[wf_id] = {"state": desc.status.name.lower() if desc.status else "unknown"}
        if len(outcome) == len(run.workflows) or time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)
    for wf_id in run.workflows:
        outcome.setdefault(wf_id, {"state": "running"})
    return outcome


def ledger_duplicates(run: Run) -> tuple[int, int, list[str]]:
    orders = Counter(part_order_id_for_po(d["order"]["po_number"])
                     for d in run.partners.supplier.app.state.ledger.all("orders"))
    work_orders = Counter(workflow_id_for_ref(d["work_order"]["external_ref"])
                          for d in run.partners.cmms.app.state.ledger.all("work_orders"))
    foreign = sorted((set(orders) | set(work_orders)) - set(run.workflows))
    return (sum(n - 1 for n in orders.values() if n > 1), sum(n - 1 for n in work_orders.values() if n > 1),
            foreign)


# --------------------------------------------------------------------------- main

async def main(args: argparse.Namespace) -> int:
    from agents.runtime.adapter import AgentFleet, connect_ray, disconnect_ray

    state = Path(tempfile.mkdtemp(prefix="autoops-chaos-"))
    rng = random.Random(args.seed)
    f = args.fault_rate
    partners = start_reference_servers(
        state / "partners", callback_secrets=SECRETS,
        supplier_knobs=SupplierKnobs(error_rate=f, rate_limit_rate=f / 2, malformed_rate=f / 2, seed=args.seed,
                                     confirm_delay_s=0.3, ship_delay_s=0.3),
        cmms_knobs=CmmsKnobs(error_rate=f, rate_limit_rate=f / 2, malformed_rate=f / 2, seed=args.seed + 1,
                             auto_complete_delay_s=1.0),
        mes_knobs=Knobs(error_rate=f, malformed_rate=f / 2, seed=args.seed + 2),
    )
    temporal_port = free_port()
    temporal = await start_dev_server(state / "temporal", port=temporal_port, headless=True)
    intake_port = free_port()
    intake_url = f"http://127.0.0.1:{intake_port}"
    base = {"temporal": temporal.address, "queue": QUEUE, "supplier": partners.supplier_url,
            "cmms": partners.cmms_url, "mes": partners.mes_url, "secrets": SECRETS,
            "callback_base": intake_url, "timeout_s": RETRY.timeout_s}
    nodes = {
        "orchestrator": Node("orchestrator", {**base, "intake_port": intake_port, "stock": str(state / "stock-a.json")},
                             state / "orchestrator.log"),
        "worker": Node("worker", {**base, "stock": str(state / "stock-b.json")}, state / "worker.log"),
    }
    connect_ray(num_cpus=1, namespace="autoops-chaos", log_to_driver=False)
    fleet = None
    run: Run | None = None
    try:
        sensors = [{"name": "vib", "kind": "vibration_velocity", "unit": "mm/s"},
                   {"name": "temp", "kind": "temperature", "unit": "degC"}]
        fleet = AgentFleet.start(
            [MachineAgentSpec(asset_id=f"agent-{a}", config={"sensors": sensors, "commissioning_readings": 12})
             for a in range(4)],
            namespace=f"chaos-{uuid.uuid4().hex[:8]}", checkpoint_dir=state / "checkpoints",
        )
        for node in nodes.values():
            node.start()
        for node in nodes.values():
            await asyncio.to_thread(node.wait_ready, 180)
        run = Run(args, state, rng, temporal, temporal_port, partners, nodes, intake_url, fleet)
        readings = threading.Thread(target=feed_readings, args=(run,), daemon=True)
        readings.start()
        began = time.monotonic()
        pace = args.pace_s
        duration = max(30.0, args.workflows * pace)
        await asyncio.gather(start_workflows(run, pace), chaos(run, duration), partner_trouble(run, duration))
        for panel in (partners.supplier, partners.cmms, partners.mes):  # the faults stop; the work must end
            panel.app.state.knobs.update({"error_rate": 0.0, "rate_limit_rate": 0.0, "malformed_rate": 0.0,
                                          "latency_s": 0.0})
        outcome = await settle(run, args.settle_s)
        run.stop_readings.set()
        readings.join(timeout=330)
        dup_po, dup_wo, foreign = ledger_duplicates(run)
        states = Counter(o["state"] for o in outcome.values())
        summary = {
            "workflows_started": len(run.workflows),
            "completed": states.get("completed", 0),
            "attention": states.get("attention", 0),
            "other": {k: v for k, v in states.items() if k not in ("completed", "attention")},
            "results": dict(Counter(o.get("result", "") for o in outcome.values() if o["state"] == "completed")),
            "attention_reasons": sorted({o["reason"][:160] for o in outcome.values() if o["state"] == "attention"}),
            "duplicates_po": dup_po,
            "duplicates_wo": dup_wo,
            "ledger_entries_without_workflow": foreign,
            "lost_readings": len(run.readings_sent - run.readings_reported),
            "readings_sent": len(run.readings_sent),
            "kills": len(run.kills),
            "kills_by_target": dict(Counter(k["what"] for k in run.kills)),
            "max_recovery_s": max((k["recovery_s"] for k in run.kills), default=0.0),
            "kill_log": run.kills,
            "fault_rate": f,
            "wall_s": round(time.monotonic() - began, 1),
        }
        ok = (summary["completed"] + summary["attention"] == summary["workflows_started"] == args.workflows
              and dup_po == 0 and dup_wo == 0 and not foreign and summary["lost_readings"] == 0)
        summary["ok"] = ok
        if args.json:
            print(json.dumps(summary), file=REPORT, flush=True)
        else:
            for key, value in summary.items():
                if key != "kill_log":
                    print(f"{key:>32}: {value}", file=REPORT)
        return 0 if ok else 1
    finally:
        for node in nodes.values():
            node.kill()
        if fleet is not None:
            fleet.stop()
        disconnect_ray()
        (run.temporal if run is not None else temporal).stop()  # the one running now (restarts)
        partners.stop()
        if args.keep:
            print(f"state kept in {state}", file=sys.stderr)
        else:
            shutil.rmtree(state, ignore_errors=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workflows", type=int, default=200)
    p.add_argument("--fault-rate", type=float, default=0.1, help="share of partner requests that fail")
    p.add_argument("--kills", type=int, default=16, help="SIGKILLs, in turn: orchestrator, worker, Temporal, Ray actor")
    p.add_argument("--pace-s", type=float, default=0.5, help="seconds between two workflow starts")
    p.add_argument("--settle-s", type=float, default=900.0, help="how long the workflows get to end")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the state directory (logs, ledgers)")
    args = p.parse_args(argv)
    if args.workflows < 1 or args.kills < 0 or not 0 <= args.fault_rate <= 0.5:
        p.error("--workflows >= 1, --kills >= 0, 0 <= --fault-rate <= 0.5")
    return args


#: Where the result goes: the real standard output. Ray's raylet writes its own notices to file
#: descriptor 1 of this process whatever ``log_to_driver`` says; they go to stderr instead, so
#: ``--json`` output is JSON alone.
REPORT = sys.stdout

if __name__ == "__main__":
    REPORT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    sys.exit(asyncio.run(main(parse())))
