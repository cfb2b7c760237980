"""The host of one asset's agent, or of a shard of agents: plain Python, wrapped as a Ray actor.

``AssetActor`` knows nothing of Ray (``agents/runtime/adapter.py`` wraps it with ``ray.remote``),
so everything it promises is unit-tested in-process:

* readings arrive in batches (a Ray call costs ~0.7 ms; one call per reading cannot carry a plant);
* a reading for a time the agent has already assessed (a re-delivery after a retry or a restart) is
  not assessed again; if its report is still known it is handed back again, with the same id.
  Agents assume time moves forward, so a reading older than the last assessed one is dropped too
  (counted with the duplicates);
* reports go to a bounded outbox that consumers read with a cursor; the cursor survives restarts;
* after a batch, each agent's ``snapshot()`` is saved to a ``CheckpointStore`` (per the policy),
  and a new incarnation of the actor (Ray re-runs ``__init__`` after a crash) restores every agent,
  so it resumes with its baseline and its report sequence numbers continue.

Checkpoint records (one per asset, key ``agent:<asset_id>``, and one per actor, ``actor:<name>``)::

    agent: {"format": 1, "asset_id", "kind", "snapshot": {...}, "last_time": iso,
            "latest": [report, ...]}
    actor: {"format": 1, "incarnation": n, "next_cursor": n,
            "last_batch": [[cursor, hosting asset id, report], ...]}

An agent with an ``assess_all(reading) -> list[HealthReport]`` method (the plant energy agent: the
plant's report first, then one per meter) has all those reports published; ``assess`` otherwise.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.base import Agent, Reading, with_source_faults
from agents.errors import AutoopsError, InputError
from agents.machine import MachineAgent, Step
from agents.machine_shard import assess_round, rounds
from agents.models import HealthReport
from agents.registry import AgentBuilder, AgentSpec, build_agent
from agents.runtime.checkpoint import CheckpointStore
from agents.runtime.tracing import assessment_span, stamp

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckpointPolicy(_Frozen):
    """When a host saves its agents: all of them after a batch once ``every_readings`` new
    readings were assessed since the last save (None: never by count); and each agent once
    ``every_seconds`` passed since its own last save.

    The default saves after every batch. Larger values trade write load for re-assessment after a
    crash (readings since the last save are assessed again when re-delivered; same report ids).
    Time-based saves are staggered: the agents' turns are spread over ``every_seconds`` (a host
    of 1,000 agents saves about 1,000 / ``every_seconds`` of them per second instead of all of
    them at once every ``every_seconds``: a stall of seconds at 10,000 assets, issue 16).
    """

    every_readings: int | None = Field(default=1, ge=1)
    every_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _saves_at_all(self) -> CheckpointPolicy:
        if self.every_readings is None and self.every_seconds is None:
            raise ValueError(
                "a checkpoint policy needs every_readings or every_seconds: with neither, the "
                "agents would be saved only when asked to (a stop), and a crash would lose them"
            )
        return self


class PublishPolicy(_Frozen):
    """Which reports a host publishes, and how it assesses a shard of machines.

    ``columnar``: a batch's machine readings are assessed a round at a time, the numerical steps
    for all the shard's assets in one pass (``agents.machine_shard``), same statuses and levels.
    ``on_change`` (with ``columnar``): a machine's report is published (built, returned, put in the outbox) only when
    what it says changes -- status, an indicator's level, the sensor faults, the findings behind
    amber or red -- or as a heartbeat once its reading is ``heartbeat_s`` (reading time) past
    the last published one; keep it well inside the policies' ``stale_after``. Off by default:
    every reading then gives a report, as consumers that count reports expect.
    """

    columnar: bool = True
    on_change: bool = False
    heartbeat_s: float = Field(default=60.0, gt=0)


class ReportPage(_Frozen):
    """Reports published after a cursor. ``missed`` counts reports that fell out of the bounded
    outbox (or were lost with a crashed actor) before this consumer read them."""

    reports: tuple[HealthReport, ...]
    cursor: int = Field(ge=0)
    missed: int = Field(default=0, ge=0)


class HostStats(_Frozen):
    """What a host has done since it (re)started; ``incarnation`` counts restarts across crashes."""

    name: str
    assets: tuple[str, ...]
    pid: int  # the worker process; a restarted actor runs in a new one
    incarnation: int
    restored: tuple[str, ...]  # assets whose agent came back from a checkpoint in this incarnation
    restore_errors: tuple[str, ...]
    assessed: int
    duplicates: int
    errors: int
    checkpoints: int
    cursor: int


@dataclass
class _Hosted:
    spec: AgentSpec
    agent: Agent
    last_time: datetime | None = None
    # By report asset id: the agent's own, and its sub-assets' (a plant energy agent's meters).
    latest: dict[str, HealthReport] = field(default_factory=dict)
    dirty: bool = False
    # Publishing on change: what the last published report said, readings since it.
    signature: tuple[object, ...] | None = None
    published_at: datetime | None = None
    saved_at: float = 0.0  # the host's clock at this agent's last save (its turn, when staggered)


@dataclass
class _Outbox:
    """Bounded list of published reports with consecutive cursors.

    Also indexed by the reading that produced them (hosting asset, time), so a re-delivered
    reading gets its reports again while they are still here.
    """

    capacity: int
    next_cursor: int = 0
    entries: deque[tuple[int, str, HealthReport]] = field(default_factory=deque)
    by_reading: dict[tuple[str, datetime], list[HealthReport]] = field(default_factory=dict)
    #: Reports published by an incarnation that died before saving their agent: they keep their
    #: cursors, and the same report made again from the same reading is not published twice.
    awaiting_remake: dict[tuple[str, datetime], int] = field(default_factory=dict)  # -> cursor

    def publish(self, host: str, report: HealthReport, cursor: int | None = None) -> int:
        at = self.next_cursor if cursor is None else cursor
        self.entries.append((at, host, report))
        self.by_reading.setdefault((host, report.time), []).append(report)
        self.next_cursor = max(self.next_cursor, at + 1)
        while len(self.entries) > self.capacity:
            _, old_host, old = self.entries.popleft()
            key = (old_host, old.time)
            # The whole reading's reports leave together; a partial answer would look complete.
            self.by_reading.pop(key, None)
        return at

    def since(self, cursor: int, limit: int | None) -> ReportPage:
        oldest = self.entries[0][0] if self.entries else self.next_cursor
        missed = max(0, min(oldest, self.next_cursor) - cursor)
        picked = [(at, r) for at, _, r in self.entries if at >= cursor]
        end = self.next_cursor
        if limit is not None and len(picked) > limit:
            picked = picked[:limit]
            end = picked[-1][0] + 1
        return ReportPage(
            reports=tuple(r for _, r in picked), cursor=max(end, cursor), missed=missed
        )


class AssetActor:
    """Hosts the agents of one or more assets; ``ingest`` batches in, reports out, state saved."""

    def __init__(
        self,
        name: str,
        specs: Sequence[AgentSpec],
        store: CheckpointStore,
        *,
        policy: CheckpointPolicy | None = None,
        publish: PublishPolicy | None = None,
        outbox_size: int = 10_000,
        builder: AgentBuilder | None = None,
        clock: Callable[[], float] = time.monotonic,
        process_setup: Callable[[], object] | None = None,
    ) -> None:
        if process_setup is not None:
            # Given by whoever runs the fleet (the orchestrator: its telemetry configuration, so
            # this process exports its spans as the loop's does). Idempotent per process.
            process_setup()
        if not specs:
            raise InputError(f"actor {name!r}: give it at least one agent spec to host")
        ids = [s.asset_id for s in specs]
        if len(set(ids)) != len(ids):
            raise InputError(f"actor {name!r}: asset ids must be unique, got {ids}")
        self.name = name
        self._store = store
        self._policy = policy or CheckpointPolicy()
        self._publish = publish or PublishPolicy()
        self._clock = clock
        self._outbox = _Outbox(capacity=max(1, outbox_size))
        self._build = builder or build_agent
        self._hosted: dict[str, _Hosted] = {s.asset_id: _Hosted(s, self._build(s)) for s in specs}
        self._restored: list[str] = []
        self._restore_errors: list[str] = []
        self._assessed = self._duplicates = self._errors = self._checkpoints = 0
        self._since_save = 0
        self._incarnation = 0
        self._incarnation = self._restore() + 1
        self._stagger()
        # Record the new incarnation at once, so a crash loop is visible in the store; keep the
        # restored last batch in it, in case this incarnation dies before the retried call arrives.
        self._save_actor_record(last_batch=list(self._outbox.entries))

    # -- restore -------------------------------------------------------------------------------

    def _restore(self) -> int:
        """Load every agent's last checkpoint; return the incarnation count saved before."""
        for asset_id, hosted in self._hosted.items():
            try:
                record = self._store.load(f"agent:{asset_id}")
                if record is None:
                    continue
                if record.get("kind") != hosted.spec.kind.value:
                    raise InputError(
                        f"checkpoint of {asset_id!r} is for a {record.get('kind')!r} agent, "
                        f"the spec says {hosted.spec.kind.value!r}; starting this agent afresh"
                    )
                hosted.agent.restore(record["snapshot"])
                if record.get("last_time"):
                    hosted.last_time = datetime.fromisoformat(record["last_time"])
                for data in record.get("latest") or []:
                    report = HealthReport.model_validate(data)
                    hosted.latest[report.asset_id] = report
                self._restored.append(asset_id)
            except Exception as exc:  # supervisor boundary: one bad checkpoint must not crash-loop
                # A fresh agent relearns its baseline; crash-looping would stop the whole shard.
                log.error("actor %s: cannot restore %s: %s", self.name, asset_id, exc)
                self._restore_errors.append(f"{asset_id}: {exc}")
                self._hosted[asset_id] = _Hosted(hosted.spec, self._build(hosted.spec))
        try:
            actor_record = self._store.load(f"actor:{self.name}") or {}
        except AutoopsError as exc:
            log.error("actor %s: cannot read its own record: %s", self.name, exc)
            self._restore_errors.append(f"actor record: {exc}")
            actor_record = {}
        self._outbox.next_cursor = int(actor_record.get("next_cursor", 0))
        # The last batch's reports go back in the outbox at their cursors, so a retried call (its
        # reply was lost with the old incarnation) gets them again instead of nothing.
        for at, host, data in actor_record.get("last_batch", []):
            report = HealthReport.model_validate(data)
            hosted_now = self._hosted.get(host)
            if hosted_now is None:
                continue
            self._outbox.publish(host, report, cursor=int(at))
            if hosted_now.last_time is None or report.time > hosted_now.last_time:
                # Its agent was not saved with it: a retried call makes it again (same id, same
                # reading), and it must not come out a second time at a new cursor.
                self._outbox.awaiting_remake[(report.report_id, report.time)] = int(at)
        return int(actor_record.get("incarnation", 0))

    # -- the calls the adapter makes -----------------------------------------------------------

    def ingest(
        self, readings: Sequence[Reading], trace_context: Mapping[str, str] | None = None
    ) -> list[HealthReport]:
        """Assess a batch in order and return the reports: one per reading, plus sub-asset reports
        of agents that have ``assess_all``. A re-delivered reading returns its earlier reports
        while the outbox still holds them, else nothing.

        ``trace_context``: the caller's W3C trace headers; the batch is assessed inside an
        ``agent.assessment`` span continuing that trace, whose context the reports carry out."""
        if not trace_context:  # an untraced caller: no span, reports without a trace context
            return self._ingest(readings)
        with assessment_span(trace_context, self.name, readings) as span:
            return stamp(span, self._ingest(readings))

    def _ingest(self, readings: Sequence[Reading]) -> list[HealthReport]:
        unknown = sorted({r.asset_id for r in readings} - self._hosted.keys())
        if unknown:
            raise InputError(
                f"actor {self.name!r} hosts {sorted(self._hosted)}, not {unknown}; "
                "route readings through the AgentFleet, which knows which actor hosts which asset"
            )
        naive = next((r for r in readings if r.time.utcoffset() is None), None)
        if naive is not None:
            # Naive and aware times cannot be ordered, and order is how re-deliveries are found.
            raise InputError(
                f"actor {self.name!r}: reading of {naive.asset_id!r} at {naive.time.isoformat()} "
                "has no timezone; sources must stamp readings in UTC (or with an offset)"
            )
        out: list[HealthReport] = []
        fresh: list[tuple[int, str, HealthReport]] = []
        # Which readings are new (a re-delivery is answered from the outbox, in its place).
        todo: list[Reading | list[HealthReport]] = []
        for reading in readings:
            hosted = self._hosted[reading.asset_id]
            if hosted.last_time is not None and reading.time <= hosted.last_time:
                self._duplicates += 1
                todo.append(self._outbox.by_reading.get((reading.asset_id, reading.time), []))
                continue
            # Consumed before assessing: a reading that makes the agent raise is not retried forever
            hosted.last_time = reading.time
            hosted.dirty = True
            self._since_save += 1
            todo.append(reading)
        results = self._assess_all(todo)
        for item, result in zip(todo, results, strict=True):
            if not isinstance(item, Reading):
                out += item
                continue
            reading = item
            if isinstance(result, Exception):
                # supervisor boundary: one bad reading must not stop the shard
                self._errors += 1
                log.error(
                    "actor %s: agent %s failed on a reading",
                    self.name,
                    reading.asset_id,
                    exc_info=result,
                )
                continue
            self._assessed += 1
            hosted = self._hosted[reading.asset_id]
            reports = result
            for report in reports:
                hosted.latest[report.asset_id] = report
                key = (report.report_id, report.time)
                if key in self._outbox.awaiting_remake:  # published before the crash: same cursor
                    fresh.append((self._outbox.awaiting_remake.pop(key), reading.asset_id, report))
                    continue
                fresh.append(
                    (self._outbox.publish(reading.asset_id, report), reading.asset_id, report)
                )
            out += reports
        if self._due():
            self.checkpoint(last_batch=fresh)
            return out
        turn = self._turn()
        if turn:
            # The agents whose time came, after the actor record (see ``checkpoint``), which
            # keeps their replies in this batch for a call retried after a crash (the others'
            # agents will make theirs again). Atomic writes without a fsync each (see
            # ``FileCheckpointStore.save_atomic``): a power cut may cost an agent its last turn.
            saved = {asset_id for asset_id, _ in turn}
            self._save_actor_record(last_batch=[e for e in fresh if e[1] in saved])
            quick = getattr(self._store, "save_atomic", None)
            for asset_id, hosted in turn:
                self._save_agent(asset_id, hosted, quick)
        elif fresh:
            # The cursor must never go back after a restart, whatever the checkpoint policy.
            self._save_actor_record(last_batch=())
        return out

    def _assess_all(
        self, todo: Sequence[Reading | list[HealthReport]]
    ) -> list[list[HealthReport] | Exception | None]:
        """Reports of each new reading (None for a re-delivery); machines a round at a time."""
        results: list[list[HealthReport] | Exception | None] = [None] * len(todo)
        machines: list[tuple[str, int]] = []
        for pos, item in enumerate(todo):
            if not isinstance(item, Reading):
                continue
            agent = self._hosted[item.asset_id].agent
            # A subclass that assesses its own way keeps its own ``assess``.
            if self._publish.columnar and type(agent).assess is MachineAgent.assess:
                machines.append((item.asset_id, pos))
                continue
            try:
                results[pos] = _assess(agent, item)
            except Exception as exc:  # handed to the caller's supervisor boundary
                results[pos] = exc
        for round_ in rounds(machines):
            batch = [todo[pos] for pos in round_]
            agents = [self._hosted[r.asset_id].agent for r in batch]  # type: ignore[union-attr]
            steps = assess_round(agents, batch)  # type: ignore[arg-type]
            for pos, step in zip(round_, steps, strict=True):
                results[pos] = step if isinstance(step, Exception) else self._published(step)
        return results

    def _published(self, step: Step) -> list[HealthReport]:
        """The step's report if it is to be published (on change / heartbeat, or always)."""
        reading = step.reading
        hosted = self._hosted[reading.asset_id]
        if self._publish.on_change:
            signature = (step.signature, tuple((f.sensor, f.kind) for f in reading.source_faults))
            last = hosted.published_at
            if (
                signature == hosted.signature
                and last is not None
                and (reading.time - last).total_seconds() < self._publish.heartbeat_s
            ):
                return []
            hosted.signature, hosted.published_at = signature, reading.time
        return [with_source_faults(MachineAgent.report(step), reading)]

    def maintenance_done(self, asset_id: str, time: datetime) -> bool:
        """Tell ``asset_id``'s agent that maintenance was done at ``time`` (see
        ``MachineAgent.maintenance_done``); its state is saved at once, as the message is rare and
        must survive a restart. Returns whether the agent changed: False for an agent without
        the method (inventory, energy) and for a message it already applied (a retry)."""
        hosted = self._hosted.get(asset_id)
        if hosted is None:
            raise InputError(
                f"actor {self.name!r} hosts {sorted(self._hosted)}, not {asset_id!r}; "
                "route the message through the AgentFleet, which knows which actor hosts it"
            )
        if time.utcoffset() is None:
            raise InputError(
                f"actor {self.name!r}: maintenance of {asset_id!r} at {time.isoformat()} has no "
                "timezone; stamp it in UTC (or with an offset)"
            )
        handler = getattr(hosted.agent, "maintenance_done", None)
        if not callable(handler) or not handler(time):
            return False
        hosted.dirty = True
        self._save_agent(asset_id, hosted)
        return True

    def reports_since(self, cursor: int = 0, limit: int | None = None) -> ReportPage:
        """Reports published at or after ``cursor``; pass the returned cursor next time."""
        return self._outbox.since(cursor, limit)

    def latest(self) -> dict[str, HealthReport]:
        """The last report of every hosted asset that has one (kept across restarts)."""
        return {a: r for h in self._hosted.values() for a, r in h.latest.items()}

    def checkpoint(self, last_batch: Sequence[tuple[int, str, HealthReport]] = ()) -> int:
        """Save every agent that changed since its last save; return how many were saved."""
        # The actor record goes first. A crash between the writes leaves reports in it whose agent
        # was not saved; ``_restore`` keeps them at their cursors and a retried call that makes
        # them again (same ids) does not publish them twice.
        # The other order would lose the replies of agents that were saved.
        self._save_actor_record(last_batch=last_batch)
        saved = 0
        for asset_id, hosted in self._hosted.items():
            if hosted.dirty:
                self._save_agent(asset_id, hosted)
                saved += 1
        self._checkpoints += 1
        self._since_save = 0
        self._stagger()  # a save of all of them must not line their next turns up again
        return saved

    def _stagger(self) -> None:
        """Spread the agents' time-based turns over ``every_seconds`` from now: the k-th of n
        comes due after (n - k) / n of it, the first after all of it."""
        every = self._policy.every_seconds
        if every is None:
            return
        now, n = self._clock(), len(self._hosted)
        for k, hosted in enumerate(self._hosted.values()):
            hosted.saved_at = now - every * k / n

    def _turn(self) -> list[tuple[str, _Hosted]]:
        """Changed agents whose ``every_seconds`` since their own last save are over."""
        every = self._policy.every_seconds
        if every is None:
            return []
        since = self._clock() - every
        return [(a, h) for a, h in self._hosted.items() if h.dirty and h.saved_at <= since]

    def _save_agent(
        self, asset_id: str, hosted: _Hosted, save: Callable[..., None] | None = None
    ) -> None:
        (save or self._store.save)(
            f"agent:{asset_id}",
            {
                "format": CHECKPOINT_FORMAT,
                "asset_id": asset_id,
                "kind": hosted.spec.kind.value,
                "snapshot": hosted.agent.snapshot(),
                "last_time": hosted.last_time.isoformat() if hosted.last_time else None,
                "latest": [r.model_dump(mode="json") for r in hosted.latest.values()],
            },
        )
        hosted.dirty = False
        hosted.saved_at = self._clock()

    def stats(self) -> HostStats:
        return HostStats(
            name=self.name,
            assets=tuple(self._hosted),
            pid=os.getpid(),
            incarnation=self._incarnation,
            restored=tuple(self._restored),
            restore_errors=tuple(self._restore_errors),
            assessed=self._assessed,
            duplicates=self._duplicates,
            errors=self._errors,
            checkpoints=self._checkpoints,
            cursor=self._outbox.next_cursor,
        )

    # -- internals -----------------------------------------------------------------------------

    def _due(self) -> bool:
        """All agents are saved now (by count; time-based saves take turns: ``_turn``)."""
        every = self._policy.every_readings
        return every is not None and self._since_save >= every

    def _save_actor_record(self, last_batch: Sequence[tuple[int, str, HealthReport]]) -> None:
        self._store.save(
            f"actor:{self.name}",
            {
                "format": CHECKPOINT_FORMAT,
                "incarnation": self._incarnation,
                "next_cursor": self._outbox.next_cursor,
                "last_batch": [[at, h, r.model_dump(mode="json")] for at, h, r in last_batch],
            },
        )


def _assess(agent: Agent, reading: Reading) -> list[HealthReport]:
    """The agent's reports for one reading: its own first, then its sub-assets' if it has any."""
    assess_all = getattr(agent, "assess_all", None)
    if callable(assess_all):
        reports: list[HealthReport] = list(assess_all(reading))
    else:
        reports = [agent.assess(reading)]
    return [with_source_faults(r, reading) for r in reports]
