"""The roles as processes on one shared PostgreSQL (issue 16, must-show 3).

Started here: a PostgreSQL (the session's), one Temporal dev server, one Ray head, the reference
partners, and then two ``autoops loop`` processes sharing four partitions, two ``autoops worker``
and two ``autoops web`` processes on the sample plant. One loop process is killed (SIGKILL) while
the day plays: the other takes its partitions over; no reading is assessed twice into a second
decision, no workflow starts twice, the supplier and the CMMS hold each order once. A person signed
in on one web process is signed in on the other (approvals are voted through both), and a part
reservation booked through one worker's stock books is seen by the other's.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from orchestrator.config import load_config
from orchestrator.reference.knobs import CmmsKnobs, SupplierKnobs
from orchestrator.reference.serve import ReferenceStack, start_reference_servers
from orchestrator.services import supplier_catalog
from orchestrator.temporal import DevServer, connect, free_port, start_dev_server
from tests.orchestrator.test_run_external import (
    BIN,
    REPO,
    SAMPLE_PLANT,
    SECRET,
    RayHead,
    Run,
    _env,
    _plant_file,
    _start_ray_head,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
OWNED = r"partitions owned: (\S+)"


def _start(role: str, plant: Path, env: dict[str, str], *extra: str) -> Run:
    process = subprocess.Popen(
        [str(BIN / "autoops"), role, "--config", str(plant), *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    return Run(process)


def _owned(run: Run) -> set[int]:
    """The partitions a loop process said it owns last."""
    found = [m.group(1) for line in list(run.lines) if (m := re.search(OWNED, line))]
    return {int(p) for p in found[-1].split(",") if p != "-"} if found else set()


def _wait(condition, what: str, deadline_s: float, *runs: Run) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return
        for run in runs:
            if run.process.poll() is not None:
                raise AssertionError(f"a role exited ({run.process.returncode}) while waiting for {what}:\n{run.tail}")
        time.sleep(0.5)
    raise AssertionError(f"not within {deadline_s:g} s: {what}\n" + "\n---\n".join(r.tail for r in runs))


class Person:
    """Someone using the web UI over HTTP, signed in on one web process."""

    def __init__(self, name: str, web_url: str) -> None:
        self.name = name
        self.client = httpx.Client(base_url=web_url, timeout=30)
        page = self.client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        signed = self.client.post(
            "/login", data={"username": name, "password": f"{name}-demo", "csrf_token": csrf.group(1)}
        )
        assert signed.status_code == 303, signed.text[:500]
        self.csrf = self.client.get("/api/me").json()["csrf_token"]

    def on(self, web_url: str) -> httpx.Client:
        """The same browser (its session cookie) talking to another web process."""
        return httpx.Client(base_url=web_url, timeout=30, cookies=self.client.cookies)

    def close(self) -> None:
        self.client.close()


def _approve_all(people: dict[str, Person], web_urls: list[str], config, voted: set[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Vote on every pending approval, each vote through the *other* web process than the one the
    voter signed in on: the session must hold there too."""
    viewer = next(iter(people.values()))
    with viewer.on(web_urls[1]) as web:
        items = web.get("/api/approvals")
    if items.status_code != 200:
        return
    for item in items.json():
        for user in config.users:
            roles = [r for r in user.roles if r in item["roles"] and config.roles[r].can_approve]
            if not roles or user.name == item["requested_by"] or (item["id"], user.name) in voted:
                continue
            if any(v["user"] == user.name for v in item["votes"]):
                continue
            if max(config.roles[r].approval_limit for r in roles) < item["amount"]:
                continue
            person = people[user.name]
            with person.on(web_urls[1]) as other:
                answer = other.post(
                    f"/api/approvals/{item['id']}/approve", json={"comment": "evidence reviewed"},
                    headers={"X-CSRF-Token": person.csrf},
                )
            if answer.status_code == 200:
                voted.add((item["id"], user.name))
            break


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[DevServer, RayHead, ReferenceStack]]:
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
            supplier_knobs=SupplierKnobs(confirm_delay_s=1.0, ship_delay_s=2.0),
            cmms_knobs=CmmsKnobs(auto_complete_delay_s=4.0, auto_complete_fault_confirmed=True),
        )
        yield temporal, head, reference
    finally:
        if reference is not None:
            reference.stop()
        if temporal is not None:
            temporal.stop()
        head.kill()


async def _runs_by_decision(address: str) -> tuple[Counter[str], list[str]]:
    """Every workflow run in Temporal, counted by the decision that started it (from its input)."""
    import json

    client = await connect(address=address)
    counts: Counter[str] = Counter()
    ids = []
    async for wf in client.list_workflows():
        ids.append(wf.id)
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id)
        async for event in handle.fetch_history_events():
            attrs = event.workflow_execution_started_event_attributes
            payloads = attrs.input.payloads if attrs and attrs.input else []
            if payloads:
                data = json.loads(payloads[0].data)
                decision = data.get("decision_id") if isinstance(data, dict) else None
                if decision:
                    counts[decision] += 1
            break
    return counts, ids


def test_roles_share_the_plant_and_survive_a_killed_loop(
    tmp_path: Path, postgres_database: str, engines: tuple[DevServer, RayHead, ReferenceStack]
) -> None:
    temporal, head, reference = engines
    state_dir = tmp_path / "state"
    plant = _plant_file(
        tmp_path / "plant.toml", state_dir=state_dir, temporal=temporal.address, ray=head.address,
        reference=reference, web_port=free_port(),
    )
    plant.write_text(
        plant.read_text() + f'\n[state]\nurl = "{postgres_database}"\n\n[loop]\npartitions = {PARTITIONS}\n'
    )
    config = load_config(plant)
    from orchestrator.state import open_state

    # The database is empty: the six roles below start at once and migrate it one at a time.
    web_ports = [free_port(), free_port()]
    web_urls = [f"http://127.0.0.1:{p}" for p in web_ports]
    base = _env(AUTOOPS_CALLBACK_SECRET=SECRET)
    runs: list[Run] = []
    people: dict[str, Person] = {}
    try:
        webs = [_start("web", plant, {**base, "AUTOOPS_WEB_PORT": str(p)}) for p in web_ports]
        runs += webs
        # Workers hand the partners the first web process as their callback address.
        workers = [_start("worker", plant, {**base, "AUTOOPS_CALLBACK_URL": web_urls[0]}) for _ in range(2)]
        runs += workers
        loops = [_start("loop", plant, base, "--tick", "0.2") for _ in range(2)]
        runs += loops
        for run in webs:
            run.wait_for_line(r"autoops web for ", timeout_s=240)
        for run in workers:
            run.wait_for_line(r"autoops worker for ", timeout_s=240)

        # Sessions live in PostgreSQL: signed in on web 1, signed in on web 2.
        people = {u.name: Person(u.name, web_urls[0]) for u in config.users}
        with people["ana"].on(web_urls[1]) as other:
            page = other.get("/approvals")
            assert page.status_code == 200 and "Sign out" in page.text, page.text[:500]
            assert other.get("/api/me").json()["user"] == "ana"

        # Two loop processes, four partitions: two each, none shared.
        _wait(lambda: len(_owned(loops[0])) == 2 and len(_owned(loops[1])) == 2,
              "each loop process owns two partitions", 300, *runs)
        assert _owned(loops[0]).isdisjoint(_owned(loops[1]))
        assert _owned(loops[0]) | _owned(loops[1]) == set(range(PARTITIONS))

        state = open_state(config)
        progress = state.progress()
        start = datetime(2000, 1, 1, tzinfo=UTC)
        keys = {p: f"p{p}-of-{PARTITIONS}" for p in range(PARTITIONS)}

        def ticks() -> dict[int, int]:
            return {p: progress.load(key, start).ticks for p, key in keys.items()}

        voted: set[tuple[str, str]] = set()
        # Play until the day has produced workflows, then kill the first loop process.
        _wait(lambda: min(ticks().values()) >= 20, "every partition played 20 ticks", 600, *runs)
        victim, survivor = loops
        lost = _owned(victim)
        at_kill = ticks()
        victim.kill()
        killed_at = time.monotonic()
        _wait(lambda: _owned(survivor) == set(range(PARTITIONS)),
              "the surviving loop takes the killed one's partitions over", 120, *runs[:-2], survivor)
        took_over_s = time.monotonic() - killed_at
        # It resumes them from their saved progress and plays on.
        _wait(lambda: all(ticks()[p] > at_kill[p] + 5 for p in lost),
              "the taken-over partitions play on", 300, survivor)

        # The rest of the day: approvals voted (through the other web process) until the bar
        # stock's purchase order and a work order reached the partners.
        def partners_have_orders() -> bool:
            _approve_all(people, web_urls, config, voted)
            orders = httpx.get(f"{reference.supplier_url}/orders", timeout=10).json()["orders"]
            work = httpx.get(f"{reference.cmms_url}/work-orders", timeout=10).json()["work_orders"]
            return bool(orders) and bool(work)

        _wait(partners_have_orders, "a supplier order and a CMMS work order", 900, *runs[:-2], survivor)
    finally:
        for person in people.values():
            person.close()
        for run in runs:
            with contextlib.suppress(Exception):
                run.process.send_signal(signal.SIGTERM)
        for run in runs:
            try:
                run.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
    for run in runs:
        if run is not victim:
            assert "Traceback" not in "".join(run.lines), run.tail

    # Each order once at the partners.
    orders = httpx.get(f"{reference.supplier_url}/orders", timeout=10).json()["orders"]
    work = httpx.get(f"{reference.cmms_url}/work-orders", timeout=10).json()["work_orders"]
    print(f"killed loop owned {sorted(lost)} at ticks {at_kill}; taken over in {took_over_s:.1f} s; "
          f"ticks at the end {ticks()}; supplier orders {len(orders)}, CMMS work orders {len(work)}, "
          f"approvals voted {len(voted)}")
    assert orders and work
    assert max(Counter(o["po_number"] for o in orders).values()) == 1, orders
    assert max(Counter(w["external_ref"] for w in work).values()) == 1, work

    # No workflow started twice: every run in Temporal came from its own decision...
    by_decision, workflow_ids = asyncio.run(_runs_by_decision(temporal.address))
    assert by_decision and max(by_decision.values()) == 1, by_decision
    # ...and no reading assessed twice into a second decision: each report feeds one decision of
    # a policy, and each decision is logged once.
    decisions = state.decisions().list()
    print(f"decisions {len(decisions)}, workflow runs with a decision {sum(by_decision.values())}, "
          f"workflow ids {len(set(workflow_ids))}")
    assert decisions
    assert len({d.decision_id for d in decisions}) == len(decisions)
    cited = Counter((d.policy_id, r) for d in decisions for r in d.inputs)
    assert max(cited.values()) == 1, [k for k, n in cited.items() if n > 1]
    for decision_id in by_decision:
        assert state.decisions().get(decision_id) is not None

    # Temporal itself refuses a second execution of a running business id (what makes a decision
    # replayed by a partition's new owner harmless).
    async def second_start_refused() -> bool:
        from temporalio.client import WorkflowExecutionStatus
        from temporalio.common import WorkflowIDConflictPolicy
        from temporalio.exceptions import WorkflowAlreadyStartedError

        client = await connect(address=temporal.address)
        running = [
            wf async for wf in client.list_workflows("ExecutionStatus = 'Running'")
            if wf.status is WorkflowExecutionStatus.RUNNING and wf.id.startswith(("po:", "maint:", "wo:"))
        ]
        if not running:
            return True
        wf = running[0]
        try:
            await client.start_workflow(
                wf.workflow_type, id=wf.id, task_queue="nobody-polls-this",
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            return True
        return False

    assert asyncio.run(second_start_refused())

    # A reservation booked through one worker's stock books is seen by the other's: the books
    # each worker process builds (orchestrator.roles.stock_ledger), on the same database.
    from orchestrator.roles import stock_ledger
    from workflows.models import PartLine

    state_one, state_two = open_state(config), open_state(config)
    try:
        one, two = stock_ledger(config, state_one), stock_ledger(config, state_two)
        levels = state_two.stock().levels()
        sku = max(levels, key=lambda s: levels[s])
        free = levels[sku]
        assert free > 0
        line = PartLine(sku=sku, quantity=1)
        booked = asyncio.run(one.reserve("probe:worker-one", (line,)))
        assert booked.reserved == (line,)
        assert state_two.stock().levels()[sku] == free - 1  # the other worker sees it taken
        assert "probe:worker-one" in state_two.stock().moves("reservation")
        # A retried activity landing on the other worker takes nothing twice.
        again = asyncio.run(two.reserve("probe:worker-one", (line,)))
        assert again.reserved == (line,) and state_one.stock().levels()[sku] == free - 1
    finally:
        state_one.close()
        state_two.close()
        state.close()
