"""``autoops demo``: the sample plant's day, on embedded defaults.

Interactive (``make demo``): everything starts, the URLs and demo users are printed, the plant
plays its time-compressed day and the approvals wait for people in the web UI, until Ctrl-C.

Headless (``--headless --until-done --json``): a scripted approver signs in through the same web
API a person uses and approves what its role allows; the run ends when the scenario's expected
outcomes happened (exit 0) or a time limit passed (exit 1), with a JSON summary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from orchestrator.clock import plant_clock
from orchestrator.config import PlantConfig, load_config
from orchestrator.preflight import check_plant
from orchestrator.process import Stack, install_stop_signals
from orchestrator.runtime import StepResult
from workflows.kinds import PART_ORDER
from workflows.models import workflow_id_for_ref

log = logging.getLogger(__name__)
DEMO_PLANT = Path(__file__).parent / "plants" / "precision_components.toml"
#: Demo users sign in with "<name>-demo" (the sample plant's hashes); only for the demo plant.
DEMO_PASSWORD = "{name}-demo"


@dataclass
class Timeline:
    """When things happened: simulated hour and seconds of wall time since the start."""

    t0: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    first_status: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, what: str, sim_h: float, **details: Any) -> None:
        self.events.append(
            {"what": what, "sim_h": round(sim_h, 1), "wall_s": round(time.monotonic() - self.t0, 2), **details}
        )


class ScriptedApprover:
    """Approves pending items through the web API, each with the first demo user allowed to."""

    def __init__(self, web_url: str, config: PlantConfig, timeline: Timeline, sim_hours: Any) -> None:
        self.web_url = web_url
        self.config = config
        self.timeline = timeline
        self.sim_hours = sim_hours
        self.sessions: dict[str, tuple[httpx.AsyncClient, str]] = {}
        self.acted: set[tuple[str, str]] = set()
        self.refusals: list[str] = []
        self._lock = asyncio.Lock()

    async def _session(self, name: str) -> tuple[httpx.AsyncClient, str]:
        if name not in self.sessions:
            client = httpx.AsyncClient(base_url=self.web_url, timeout=30)
            page = await client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None, "the sign-in page has no CSRF token"
            response = await client.post(
                "/login",
                data={"username": name, "password": DEMO_PASSWORD.format(name=name), "csrf_token": csrf.group(1)},
            )
            if response.status_code != 303:
                raise RuntimeError(f"demo user {name} cannot sign in (HTTP {response.status_code})")
            me = (await client.get("/api/me")).json()
            self.sessions[name] = (client, me["csrf_token"])
        return self.sessions[name]

    def _candidates(self, item: dict[str, Any]) -> list[str]:
        if item.get("state") == "review":  # any holder of the owning role may close a review
            return [u.name for u in self.config.users if any(r in item["roles"] for r in u.roles)][:1]
        out = []
        for user in self.config.users:
            roles = [r for r in user.roles if r in item["roles"] and self.config.roles[r].can_approve]
            if not roles or user.name == item["requested_by"]:
                continue
            if any(v["user"] == user.name for v in item["votes"]):
                continue
            if max(self.config.roles[r].approval_limit for r in roles) < item["amount"]:
                continue
            out.append(user.name)
        return out

    async def sweep(self) -> None:
        """One look at the inbox: every item it may sign gets all the votes it needs (one
        person after the other, N of M), so nothing it can approve waits for the next look.

        The headless loop sweeps after every tick, before the plant's clock moves on: the
        approver is a person always at the desk, and a deadline in plant hours (a few wall
        seconds at 0.2 s per hour) never escalates because the machine was busy."""
        async with self._lock:
            viewer = self.config.users[0].name
            client, _ = await self._session(viewer)
            items = (await client.get("/api/approvals")).json()
            for item in items:
                for name in self._candidates(item):
                    if (item["id"], name) in self.acted:
                        continue
                    self.acted.add((item["id"], name))
                    session, csrf = await self._session(name)
                    # A review (a flagged asset) is closed with a comment, not approved: the
                    # headless day would otherwise keep it open in the owner's inbox.
                    review = item.get("state") == "review"
                    response = await session.post(
                        f"/api/approvals/{item['id']}/{'close' if review else 'approve'}",
                        json={"comment": "scripted reviewer (demo): figures noted, replacement to be budgeted"
                              if review else "scripted approver (demo): evidence reviewed"},
                        headers={"X-CSRF-Token": csrf},
                    )
                    result = response.json()
                    if response.status_code == 200:
                        self.timeline.add("review closed" if review else "approved", self.sim_hours(),
                                          workflow=item["id"], by=name, amount=item["amount"],
                                          state=result.get("state"))
                        if result.get("state") in ("pending", "escalated"):
                            continue  # N of M: the next person signs too
                    else:
                        self.refusals.append(f"{item['id']} by {name}: {result.get('message')}")
                    break

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # noqa: BLE001  supervisor loop: the next poll retries
                log.warning("scripted approver: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            except TimeoutError:
                pass

    async def close(self) -> None:
        for client, _ in self.sessions.values():
            await client.aclose()


class LedgerUnavailable(Exception):
    """A partner's ledger could not be read (5xx, garbled body, wrong shape) after a few tries."""


def ledger_entries(payload: object, key: str, *, partner: str) -> list[dict[str, Any]]:
    """The entries of a ledger answer ``{key: [...]}`` (or a bare list); refuses any other shape.

    A partner under fault injection answers some reads with ``{"reason": "..."}`` (503) or a
    truncated body: that is no ledger, and must not be iterated as one.
    """
    entries = payload.get(key) if isinstance(payload, dict) else payload
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        shown = repr(payload)[:120]
        raise LedgerUnavailable(f"{partner}: expected {{{key!r}: [objects]}}, got {shown}")
    return entries


async def _read_ledger(
    client: httpx.AsyncClient, url: str, key: str, *, partner: str, attempts: int = 8
) -> list[dict[str, Any]]:
    """GET a ledger, retried: reads are safe, and the reference partners inject 5xx and garbage."""
    problem = ""
    for attempt in range(attempts):
        try:
            response = await client.get(url)
            if response.status_code != 200:
                raise LedgerUnavailable(f"{partner}: HTTP {response.status_code} from {url}")
            return ledger_entries(response.json(), key, partner=partner)
        except (httpx.HTTPError, ValueError, LedgerUnavailable) as exc:
            problem = str(exc) or type(exc).__name__
        await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
    raise LedgerUnavailable(f"{problem} (after {attempts} tries)")


async def _ledgers(stack: Stack) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Supplier orders, CMMS work orders, and the reasons a ledger could not be read."""
    errors: list[str] = []
    ledgers: list[list[dict[str, Any]]] = []
    async with httpx.AsyncClient(timeout=10) as client:
        for url, key, partner in (
            (f"{stack.services.supplier_url}/orders", "orders", "supplier"),
            (f"{stack.services.cmms_url}/work-orders", "work_orders", "cmms"),
        ):
            try:
                ledgers.append(await _read_ledger(client, url, key, partner=partner))
            except LedgerUnavailable as exc:
                errors.append(str(exc))
                ledgers.append([])
    return ledgers[0], ledgers[1], errors


def ledger_summary(
    orders: list[dict[str, Any]], work_orders: list[dict[str, Any]]
) -> dict[str, Any]:
    """The summary's partner part; tolerant of entries missing a field (shown as None)."""
    return {
        "supplier_orders": [
            {
                "po_number": o.get("po_number"),
                "status": o.get("status"),
                "total": o.get("total"),
                "currency": o.get("currency"),
                # The partner's dates, in the plant's one clock.
                "created_at": o.get("created_at"),
                "confirmed_at": o.get("confirmed_at"),
                "shipped_at": o.get("shipped_at"),
                "expected_delivery": o.get("expected_delivery"),
                "lines": [
                    [line.get("sku"), line.get("quantity")]
                    for line in (o.get("lines") or [])
                    if isinstance(line, dict)
                ],
            }
            for o in orders
        ],
        "cmms_work_orders": [
            {
                "id": w.get("work_order_id"),
                "asset_id": w.get("asset_id"),
                "priority": w.get("priority"),
                "external_ref": w.get("external_ref"),
                "status": w.get("status"),
                "created_at": w.get("created_at"),
                "completed_at": w.get("completed_at"),
                "window_start": w.get("window_start"),
                "window_end": w.get("window_end"),
            }
            for w in work_orders
        ],
    }


async def summarize(stack: Stack, timeline: Timeline, approver: ScriptedApprover | None) -> dict[str, Any]:
    """The scenario's outcome: decisions, workflows and their states, partner ledgers, duplicates."""
    orch = stack.orchestrator
    decisions = orch.store.list()
    by_policy: dict[str, Counter[str]] = defaultdict(Counter)
    for d in decisions:
        by_policy[d.policy_id][d.outcome.value] += 1
    workflows: list[dict[str, Any]] = []
    for key, entry in sorted(orch.workflows.closed.items()):
        workflows.append(
            {"id": entry.workflow_id or key, "type": entry.kind, "status": entry.status,
             "decision_id": entry.decision_id, "asset_id": entry.asset_id,
             "started_at": _iso(entry.started_at), "closed_at": _iso(entry.closed_at)}
        )
    for workflow_id, entry in sorted(orch.workflows.open.items()):
        description = await stack.services.client.get_workflow_handle(workflow_id).describe()
        workflows.append(
            {
                "id": workflow_id,
                "type": entry.kind,
                "status": description.status.name.lower() if description.status else "unknown",
                "decision_id": entry.decision_id,
                "asset_id": entry.asset_id,
                "started_at": _iso(entry.started_at),
                "run_id": description.run_id,
            }
        )
    # Child part orders (started by maintenance workflows) are workflows too.
    ours = {w["id"] for w in workflows}
    async for wf in stack.services.client.list_workflows("WorkflowType = 'PartOrder'"):
        if wf.id not in ours:
            workflows.append(
                {"id": wf.id, "type": PART_ORDER.kind, "status": wf.status.name.lower() if wf.status else "",
                 "decision_id": None, "asset_id": None, "child": True, "run_id": wf.run_id}
            )
    # Each run's own card: a later run of the same id (the next bearing) is another job.
    runs = {(r.workflow_id, d.decision_id): r.run_id for d in decisions for r in d.results}
    for w in workflows:
        w["run_id"] = runs.get((w["id"], w["decision_id"])) or w.get("run_id")
        w["approval"] = await _approval_times(stack, w["id"], w["run_id"])
        if w["run_id"]:  # its start as the pages show it: Temporal's wall time read in plant time
            w["page_started_at"] = await _page_start(stack, w["id"], w["run_id"])
    orders, work_orders, ledger_errors = await _ledgers(stack)
    po_counts = Counter(o.get("po_number") for o in orders if o.get("po_number"))
    wo_counts = Counter(w.get("external_ref") for w in work_orders if w.get("external_ref"))
    # Two workflows open at once for one problem would be a duplicate (a later run after the
    # first closed is a new problem, e.g. the next bearing).
    key_counts = Counter(e.dedup_key for e in orch.workflows.open.values())
    duplicates = {
        "supplier_orders": sum(n - 1 for n in po_counts.values() if n > 1),
        "work_orders": sum(n - 1 for n in wo_counts.values() if n > 1),
        "workflows_per_problem": sum(n - 1 for n in key_counts.values() if n > 1),
    }
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    for w in workflows:
        by_type[w["type"]][w["status"]] += 1
    return {
        "site": orch.config.site,
        "sim_hours": orch.sim.hours if orch.sim else None,
        # The one clock of this run: every time below is in it (plant time of the twin).
        "clock": {"label": orch.clock.label, "simulated": orch.clock.simulated_time,
                  "scale": orch.clock.model.scale,
                  "start": _iso(orch.sim.start) if orch.sim else None,
                  "now": _iso(orch.now)},
        "planned_windows": _planned_windows(decisions),
        "failed_assets": orch.sim.failed() if orch.sim else [],
        "decisions_by_policy": {p: dict(c) for p, c in sorted(by_policy.items())},
        # How what each decision started ended, as the decisions page shows it.
        "results": [
            {"policy": d.policy_id, "workflow": r.workflow_id, "run_id": r.run_id, "result": r.summary()}
            for d in decisions
            for r in d.results
        ],
        "workflows_by_type": {t: dict(c) for t, c in sorted(by_type.items())},
        "workflows": workflows,
        **ledger_summary(orders, work_orders),
        "duplicates": sum(duplicates.values()),
        "duplicates_detail": duplicates,
        # Non-empty: a partner ledger was unreadable, so orders and duplicates are not known.
        "ledger_errors": ledger_errors,
        "approval_refusals": approver.refusals if approver else [],
        "timeline": [
            {**e, "at": _iso(orch.sim.start + timedelta(hours=e["sim_h"])) if orch.sim else None}
            for e in timeline.events
        ],
        **sources_summary(orch),
        "alarms": alarms_summary(orch),
    }


def _iso(t: Any) -> str | None:
    return t.isoformat() if t is not None else None


async def _page_start(stack: Stack, workflow_id: str, run_id: str) -> str | None:
    """When the workflow page says this run started (``PlantBackend`` reads Temporal's start time
    through the plant clock's marks the same way)."""
    try:
        description = await stack.services.client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except Exception as exc:  # noqa: BLE001  the summary notes what it could not read
        log.warning("summary: %s run %s not described: %s", workflow_id, run_id, exc)
        return None
    return _iso(stack.orchestrator.clock.plant_at(description.start_time))


async def _approval_times(stack: Stack, workflow_id: str, run_id: str | None) -> dict[str, Any] | None:
    """A workflow's approval card in the summary: its window text and times (plant time)."""
    from orchestrator.approvals import TemporalApprovals

    try:
        status = await TemporalApprovals(stack.services.client).status(workflow_id, run_id=run_id)
    except Exception as exc:  # noqa: BLE001  a summary must not fail on one workflow's query
        log.warning("approval of %s not read: %s", workflow_id, exc)
        return None
    if status is None:
        return None
    return {
        "state": status.state.value,
        "subject": status.subject,
        "window": status.context.window,
        "window_moved": status.context.window_moved,
        "opened_at": _iso(status.opened_at),
        "deadline": _iso(status.deadline),
        "votes": [{"user": v.user, "approve": v.approve, "at": _iso(v.at)} for v in status.votes],
        "escalations": [{"to": e.to_tier, "at": _iso(e.at), "reason": e.reason} for e in status.escalations],
    }


def _planned_windows(decisions: list[Any]) -> list[dict[str, Any]]:
    """The maintenance windows the policies planned (the decision's explanation says which)."""
    out = []
    for d in decisions:
        evidence = d.proposed.evidence if d.proposed is not None else {}
        if evidence.get("window_start"):
            out.append({"decision_id": d.decision_id, "policy": d.policy_id, "asset_id": d.asset_id,
                        "window_start": evidence["window_start"]})
    return out


def alarms_summary(orch: Any) -> dict[str, Any]:
    """The day's alarms in figures (``autoops alarms list / kpis`` show them in full)."""
    from orchestrator.alarms.kpis import compute

    store = orch.alarms.store
    every = store.list(limit=100_000)
    figures = compute(store.activations(), [a for a in every if a.state.value != "cleared"],
                      store.plant_now() or orch.now)
    return {
        "raised": len(every),
        "open": sum(1 for a in every if a.state.value != "cleared"),
        **{k: figures[k] for k in ("activations", "per_10_min", "peak_10_min", "floods",
                                   "chattering", "stale")},
    }


def sources_summary(orch: Any) -> dict[str, Any]:
    """Readings per source and protocol, and what reached the agents without a protocol."""
    out: dict[str, Any] = {
        "readings_by_source": orch.hub.readings_by_source() if orch.hub is not None else [],
    }
    feed = getattr(orch, "feed", None)
    if feed is not None:
        out["readings_direct"] = {
            "sensors": sorted(feed.direct),
            "why": "waveforms (4096 samples a reading) are no tag value: sources deliver one "
            "number per tag, so each waveform joins its reading (same asset and time) directly",
        }
        out["ticks_late"] = feed.late_ticks
    return out


def expected_outcomes(summary: dict[str, Any], site: str) -> dict[str, bool]:
    """The plant day's expected outcomes; the headless demo exits 0 only if all are true."""
    def completed(prefix: str) -> bool:
        return any(w["id"].startswith(prefix) and w["status"] == "completed" for w in summary["workflows"])

    policies = summary["decisions_by_policy"]
    # Work orders per workflow: a CMMS ref is "<workflow id>~<run tag>" (workflows.models.work_order_ref).
    refs = Counter(
        workflow_id_for_ref(w["external_ref"]) for w in summary["cmms_work_orders"] if w.get("external_ref")
    )
    return {
        "material_shortage_ordered_after_approval": completed(f"po:{site}:BAR-42CRMO4-40:")
        and any(e["what"] == "approved" and e["workflow"].startswith(f"po:{site}:BAR") for e in summary["timeline"]),
        "bearing_wear_maintained_in_window": completed(f"maint:{site}:mill-1")
        and refs.get(f"maint:{site}:mill-1") == 1,
        "bearing_kit_ordered": completed(f"po:{site}:BK-6205:"),
        "work_rerouted_off_the_bottleneck": completed(f"reroute:{site}:mill-1"),
        # The flag reaches a person: its review went to the compressor's owner and was closed.
        "compressor_flagged_with_payback": policies.get("compressor-drift", {}).get("proposed", 0) >= 1
        and completed(f"review:{site}:C-1:"),
        "flatlined_sensor_instrument_check": completed(f"wo:{site}:lathe-1:instrument:"),
        "no_machine_failed": not summary["failed_assets"],
        "zero_duplicates": summary["duplicates"] == 0 and not summary.get("ledger_errors"),
    }


def _print_banner(stack: Stack, config: PlantConfig) -> None:
    services = stack.services
    print("autoops is ready — Precision Components' day is playing, time-compressed.", flush=True)
    print(f"  web UI (approvals, asset board):  {stack.web_url}/", flush=True)
    print(f"  Temporal Web UI:                   {services.temporal_ui_url or '(external cluster)'}", flush=True)
    ray_settings = config.ray
    if ray_settings.address:
        dashboard = "(external Ray cluster)"
    elif ray_settings.include_dashboard:
        dashboard = f"http://{ray_settings.node_ip_address}:8265"
    else:
        dashboard = f"off (ray.include_dashboard = true turns it on); Ray listens on {ray_settings.node_ip_address}"
    print(f"  Ray dashboard:                     {dashboard}", flush=True)
    print(f"  traces:                            {stack.state_dir / 'traces.jsonl'}  (autoops trace ID)", flush=True)
    print(f"  state:                             {stack.state_dir}", flush=True)
    for spec in config.source_specs():  # the demo's plant, read through these
        print(f"  plant via {spec.kind:8s}                 {spec.endpoint}  ({len(spec.tags)} tags)",
              flush=True)
    print("  demo users (password: <name>-demo):", flush=True)
    for user in config.users:
        limit = config.approval_limit(user)
        print(f"    {user.name:6s} {', '.join(user.roles):22s} approves up to {limit:,.0f} {config.currency}", flush=True)
    print("Press Ctrl-C to stop; `make demo` again resumes where it stopped.", flush=True)


def _track(stack: Stack, timeline: Timeline) -> Any:
    seen_status: dict[str, str] = {}

    def on_step(result: StepResult) -> None:
        hours = stack.orchestrator.sim.hours if stack.orchestrator.sim else 0.0
        for report in result.reports:
            if seen_status.get(report.asset_id) != report.status.value:
                if report.status.value in ("amber", "red") and (report.asset_id, report.status.value) not in timeline.first_status:
                    timeline.first_status[(report.asset_id, report.status.value)] = hours
                    timeline.add(f"first {report.status.value}", hours, asset=report.asset_id, summary=report.summary[:160])
                seen_status[report.asset_id] = report.status.value
        for decision in result.decisions:
            if decision.outcome.value == "proposed":
                timeline.add("decision", hours, policy=decision.policy_id, asset=decision.asset_id,
                             decision_id=decision.decision_id, explanation=decision.explanation[:200])
        for workflow_id in result.started:
            timeline.add("workflow started", hours, workflow=workflow_id)

    return on_step


async def _open_workflows(stack: Stack) -> int:
    running = 0
    async for _ in stack.services.client.list_workflows("ExecutionStatus = 'Running'"):
        running += 1
    return running


async def run_demo(
    *,
    config_path: Path | None = None,
    headless: bool = False,
    until_done: bool = False,
    tick_s: float | None = None,
    max_sim_hours: float = 320.0,
    timeout_s: float = 600.0,
    fresh: bool = False,
    state_dir: Path | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """Run the demo; returns (exit code, summary or None)."""
    config = load_config(config_path or DEMO_PLANT)
    if state_dir is not None:
        config = config.model_copy(update={"state_dir": state_dir})
    if fresh and config.state_dir.exists():
        shutil.rmtree(config.state_dir)
    # Every field checked before Temporal, Ray or a server starts.
    check_plant(config, source=str(config_path or DEMO_PLANT))
    tick = tick_s if tick_s is not None else (0.2 if headless else 1.0)
    stop = asyncio.Event()
    install_stop_signals(stop)
    timeline = Timeline()
    feed = None
    if config.simulation and not config.sources:
        # The plant is read through OPC UA, MQTT (Sparkplug B) and Modbus TCP servers on
        # loopback that the twin publishes to, as `autoops run` reads a real plant.
        from agents.simulator.feed import TwinFeed

        feed = TwinFeed.for_plant(config)
        try:
            await feed.start()
            config = PlantConfig.model_validate(
                {**config.model_dump(), "sources": feed.source_tables()}
            )
            stack = await Stack.start(config, feed=feed, clock=plant_clock(config, tick))
        except BaseException:
            await feed.stop()
            raise
    else:
        stack = await Stack.start(config, clock=plant_clock(config, tick))
    # Ray installed its own SIGTERM handlers while starting (exit at once, or abort): take
    # them back so a stop is a clean stop.
    install_stop_signals(stop)
    approver = None
    tasks: list[asyncio.Task[Any]] = []
    try:
        if headless:
            approver = ScriptedApprover(
                stack.web_url, config, timeline,
                lambda: stack.orchestrator.sim.hours if stack.orchestrator.sim else 0.0,
            )
            tasks.append(asyncio.create_task(approver.run(stop)))
        else:
            _print_banner(stack, config)
        loop_stop = asyncio.Event()

        async def watch() -> None:
            await stop.wait()
            loop_stop.set()

        tasks.append(asyncio.create_task(watch()))
        on_step = _track(stack, timeline)
        if not until_done:
            await stack.run_loop(loop_stop, tick_s=tick, on_step=on_step)
            return 0, None
        deadline = time.monotonic() + timeout_s
        summary: dict[str, Any] = {}
        outcomes: dict[str, bool] = {}

        async def done_check(result: StepResult) -> None:
            on_step(result)
            if approver is not None:
                try:
                    await approver.sweep()  # before the plant's clock moves on (see sweep)
                except Exception as exc:  # noqa: BLE001  the approver's own loop tries again
                    log.warning("scripted approver: %s", exc)
            hours = stack.orchestrator.sim.hours if stack.orchestrator.sim else 0.0
            if time.monotonic() > deadline:
                loop_stop.set()
            elif hours >= max_sim_hours and await _open_workflows(stack) == 0:
                loop_stop.set()
            elif int(hours) % 5 == 0 and hours >= 150:
                nonlocal summary, outcomes
                summary = await summarize(stack, timeline, approver)
                outcomes = expected_outcomes(summary, config.site)
                # Done when the day's outcomes happened; later problems (the next bar order) are
                # left running in Temporal and resume at the next start.
                if all(outcomes.values()):
                    loop_stop.set()

        await stack.run_loop(loop_stop, tick_s=tick, on_step=done_check)
        await stack.orchestrator.settle()  # the outcomes of what just closed, in the decision log
        summary = await summarize(stack, timeline, approver)
        outcomes = expected_outcomes(summary, config.site)
        summary["expected_outcomes"] = outcomes
        summary["ok"] = all(outcomes.values())
        summary["wall_s"] = round(time.monotonic() - timeline.t0, 1)
        return (0 if summary["ok"] else 1), summary
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if approver is not None:
            await approver.close()
        await stack.stop()
        if feed is not None:
            await feed.stop()


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, default=str))
        return
    for key in ("ok", "sim_hours", "wall_s", "duplicates", "decisions_by_policy", "workflows_by_type"):
        print(f"{key}: {summary.get(key)}")
    for name, ok in summary.get("expected_outcomes", {}).items():
        print(f"  [{'x' if ok else ' '}] {name}")
