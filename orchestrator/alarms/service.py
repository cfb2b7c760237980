"""Alarm life: raise and clear from conditions, and the people's actions, with their audit trail.

``AlarmService`` is plain Python over an ``AlarmStore``; the loop calls ``observe_reports`` /
``observe_approvals`` with what it saw, the web API calls the actions (``acknowledge``, ``shelve``,
``unshelve``, ``assign``, ``note``) as the signed-in person. Times of conditions are the plant's
(a report's time); times of people's actions and shelving come from the injected ``clock``.
Every action is checked against the person's rights (``permissions``) and refused with a reason
(``Refused``) that the UI and the CLI show as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from agents.models import HealthReport
from orchestrator.alarms.model import (
    Action,
    Alarm,
    AlarmSource,
    AlarmState,
    Condition,
    HistoryEntry,
    Place,
    ShelveKind,
    Shelving,
)
from orchestrator.alarms.permissions import Refused, rights
from orchestrator.alarms.rules import from_approvals, from_report, places
from orchestrator.alarms.store import AlarmStore, Tx
from orchestrator.config import PlantConfig, User
from orchestrator.web.models import ApprovalItem
from workflows.models import comment_too_long

if TYPE_CHECKING:
    from orchestrator.state.alarms import SqlAlarmStore, SqlTx

log = logging.getLogger(__name__)
audit = logging.getLogger("autoops.audit")
SYSTEM = "autoops"  # the user name of autoops' own entries in a history


class UnknownAlarm(LookupError):
    """No alarm has this id."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _urgency(priority: str) -> str:
    return priority  # "P1" < "P2": a smaller string is more urgent


class AlarmService:
    """Raise, clear, acknowledge, shelve: the alarm rules of one site over one store."""

    def __init__(
        self,
        store: AlarmStore | SqlAlarmStore,
        config: PlantConfig,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.places: dict[str, Place] = places(config)

    # ---- conditions from the plant --------------------------------------------------------------
    def observe_reports(
        self, reports: Sequence[HealthReport], *, suppressed: Mapping[str, str] | None = None
    ) -> None:
        """Raise / clear the health and instrument alarms of the assets these reports are about.

        ``suppressed``: asset -> why its alarms are suppressed by design (an open maintenance job)."""
        suppressed = suppressed or {}
        latest: dict[str, HealthReport] = {}
        for report in reports:
            latest[report.asset_id] = report
        conditions = [c for r in latest.values() for c in from_report(r)]
        scope = set(latest)
        with self.store.change() as tx:
            self._reconcile(
                tx,
                conditions,
                in_scope=lambda a: a.source is not AlarmSource.WORKFLOW and a.asset_id in scope,
                suppressed=suppressed,
                now=max((r.time for r in latest.values()), default=None),
            )

    def observe_approvals(self, items: Iterable[ApprovalItem], now: datetime) -> None:
        """Raise / clear the alarms of workflows waiting for a person (the full list of them)."""
        with self.store.change() as tx:
            self._reconcile(
                tx,
                from_approvals(items, now),
                in_scope=lambda a: a.source is AlarmSource.WORKFLOW,
                suppressed=None,
                now=now,
            )

    def _reconcile(
        self,
        tx: Tx | SqlTx,
        conditions: Sequence[Condition],
        *,
        in_scope: Callable[[Alarm], bool],
        suppressed: Mapping[str, str] | None,
        now: datetime | None,
    ) -> None:
        """``suppressed``: the full map asset -> reason (health alarms), ``None`` to leave it."""
        open_alarms = tx.open_alarms()
        by_key = {a.key: a for a in open_alarms}
        held = {c.key for c in conditions}
        for cond in conditions:
            why = (suppressed or {}).get(cond.asset_id, "") if cond.source is not AlarmSource.WORKFLOW else ""
            alarm = by_key.get(cond.key)
            if alarm is None:
                alarm = Alarm(
                    id=tx.new_id(),
                    key=cond.key,
                    asset_id=cond.asset_id,
                    source=cond.source,
                    priority=cond.priority,
                    state=AlarmState.ACTIVE_UNACK,
                    message=cond.message,
                    place=self.places.get(cond.asset_id, Place(site=self.config.site)),
                    evidence=cond.evidence,
                    raised_at=cond.time,
                    changed_at=cond.time,
                    suppressed=why,
                )
                tx.put(alarm, [HistoryEntry(time=cond.time, user=SYSTEM, action=Action.RAISED,
                                            detail=f"{cond.priority}: {cond.message}")])
                tx.activation(alarm, cond.time)
            elif alarm.state is AlarmState.CLEARED_UNACK:
                alarm = alarm.model_copy(update={
                    "state": AlarmState.ACTIVE_UNACK, "priority": cond.priority,
                    "message": cond.message, "evidence": cond.evidence, "changed_at": cond.time,
                    "cleared_at": None, "activations": alarm.activations + 1, "suppressed": why,
                })
                tx.put(alarm, [HistoryEntry(time=cond.time, user=SYSTEM, action=Action.REACTIVATED,
                                            detail=f"{cond.priority}: {cond.message}")])
                tx.activation(alarm, cond.time)
            elif cond.priority != alarm.priority:
                worse = _urgency(cond.priority) < _urgency(alarm.priority)
                update: dict[str, object] = {
                    "priority": cond.priority, "message": cond.message, "evidence": cond.evidence,
                    "changed_at": cond.time, "suppressed": why,
                }
                if worse:  # a more urgent alarm is acknowledged again
                    update["state"] = AlarmState.ACTIVE_UNACK
                tx.put(alarm.model_copy(update=update), [HistoryEntry(
                    time=cond.time, user=SYSTEM, action=Action.PRIORITY,
                    detail=f"{alarm.priority} -> {cond.priority}: {cond.message}")])
            elif why != alarm.suppressed or cond.message != alarm.message:
                tx.put(alarm.model_copy(update={"suppressed": why, "message": cond.message}))
        for alarm in open_alarms:
            if alarm.key in held:
                continue
            why = alarm.suppressed
            if suppressed is not None and alarm.source is not AlarmSource.WORKFLOW:
                why = suppressed.get(alarm.asset_id, "")
            if not in_scope(alarm) or not alarm.active:
                # Nothing to clear here; only its suppression may have changed.
                if why != alarm.suppressed:
                    tx.put(alarm.model_copy(update={"suppressed": why}))
                continue
            when = now or self.clock()
            entries = [HistoryEntry(time=when, user=SYSTEM, action=Action.CLEARED)]
            # A workflow's alarm ends when a person answered it (approved, rejected, retried):
            # nothing is left to acknowledge. Health and instrument alarms latch until seen.
            latched = alarm.state is AlarmState.ACTIVE_UNACK and alarm.source is not AlarmSource.WORKFLOW
            update = {
                "state": AlarmState.CLEARED_UNACK if latched else AlarmState.CLEARED,
                "cleared_at": when,
                "changed_at": when,
                "suppressed": why,
            }
            if alarm.shelved is not None and alarm.shelved.kind is ShelveKind.ONE_SHOT:
                # OPC UA Part 9: a one-shot shelve lasts until the alarm returns to normal.
                update["shelved"] = None
                entries.append(HistoryEntry(time=when, user=SYSTEM, action=Action.SHELVE_EXPIRED,
                                            detail="one-shot shelve ended: the alarm cleared"))
            tx.put(alarm.model_copy(update=update), entries)
        if now is not None:
            tx.observed(now)

    # ---- time ---------------------------------------------------------------------------------------
    def expire_shelves(self) -> list[str]:
        """Unshelve every timed shelve whose time ran out (by the injected clock); their ids."""
        now = self.clock()
        done: list[str] = []

        def due(alarm: Alarm) -> bool:
            return alarm.shelved is not None and alarm.shelved.until is not None and alarm.shelved.until <= now

        # Read first: the write lock only when a shelve did run out (the board asks every second).
        if not any(due(a) for a in self.store.open_alarms()):
            return done
        with self.store.change() as tx:
            for alarm in tx.open_alarms():
                shelf = alarm.shelved
                if shelf is None or shelf.until is None or not due(alarm):
                    continue
                tx.put(
                    alarm.model_copy(update={"shelved": None}),
                    [HistoryEntry(time=now, user=SYSTEM, action=Action.SHELVE_EXPIRED,
                                  detail=f"timed shelve by {shelf.by} ran out at {shelf.until:%Y-%m-%d %H:%M}")],
                )
                done.append(alarm.id)
        for alarm_id in done:
            audit.info("alarm shelve expired: alarm=%s", alarm_id)
        return done

    # ---- reading ------------------------------------------------------------------------------------
    def list(
        self, *, line: str = "", status: str = "", include_cleared: bool = False
    ) -> list[Alarm]:
        """Alarms to show, most urgent first; ``status`` is a state, ``shelved``,
        ``suppressed`` or ``unacked``; shelves that ran out are expired first."""
        self.expire_shelves()
        alarms = matching(
            self.store.list(include_cleared=include_cleared or status == "cleared"), line=line, status=status
        )
        return sorted(
            alarms,
            key=lambda a: (not a.annunciated, not a.active, not a.unacked, a.priority,
                           -a.changed_at.timestamp()),
        )

    def get(self, alarm_id: str) -> Alarm:
        alarm = self.store.get(alarm_id)
        if alarm is None:
            raise UnknownAlarm(f"no alarm {alarm_id}")
        return alarm

    # ---- people's actions ---------------------------------------------------------------------------
    def _act(self, alarm_id: str, user: User, verb: str,
             decide: Callable[[Alarm, datetime], tuple[dict[str, object], HistoryEntry]]) -> Alarm:
        now = self.clock()
        try:
            with self.store.change() as tx:
                alarm = tx.get(alarm_id)
                if alarm is None:
                    raise UnknownAlarm(f"no alarm {alarm_id}")
                update, entry = decide(alarm, now)
                tx.put(alarm.model_copy(update=update), [entry])
        except Refused as exc:
            audit.warning("alarm %s refused: user=%s alarm=%s reason=%s", verb, user.name, alarm_id, exc)
            raise
        audit.info("alarm %s: user=%s alarm=%s %s", verb, user.name, alarm_id, entry.comment)
        return self.get(alarm_id)

    @staticmethod
    def _comment(comment: str, *, required: str = "") -> str:
        too_long = comment_too_long(comment)
        if too_long:
            raise Refused(too_long)
        if required and not comment.strip():
            raise Refused(required)
        return comment.strip()

    def _may_respond(self, user: User) -> None:
        if not rights(self.config, user).respond:
            raise Refused(f"your roles ({', '.join(user.roles)}) may look at alarms but not act on them")

    def acknowledge(self, alarm_id: str, user: User, comment: str = "") -> Alarm:
        """Say "I saw it": active -> acknowledged, cleared unacknowledged -> cleared."""
        self._may_respond(user)
        text = self._comment(comment)

        def decide(alarm: Alarm, now: datetime) -> tuple[dict[str, object], HistoryEntry]:
            if not alarm.unacked:
                raise Refused(f"{alarm.id} is already acknowledged ({alarm.state.value})")
            state = (AlarmState.ACTIVE_ACK if alarm.state is AlarmState.ACTIVE_UNACK
                     else AlarmState.CLEARED)
            return ({"state": state, "acked_at": now, "acked_by": user.name},
                    HistoryEntry(time=now, user=user.name, action=Action.ACKNOWLEDGE, comment=text))

        return self._act(alarm_id, user, "acknowledge", decide)

    def shelve(self, alarm_id: str, user: User, *, reason: str,
               duration: timedelta | None = None) -> Alarm:
        """Shelve for ``duration`` (timed), or until the alarm clears (one-shot, ``None``)."""
        self._may_respond(user)
        text = self._comment(reason, required="shelving needs a reason (what you are doing about it)")
        limit = rights(self.config, user).max_shelve
        if duration is not None:
            if duration <= timedelta(0):
                raise Refused("a shelve lasts a positive time, e.g. 30m or 2h")
            if duration > limit:
                raise Refused(
                    f"your roles ({', '.join(user.roles)}) shelve for at most "
                    f"{limit.total_seconds() / 3600:g} h; ask a maintenance lead for longer"
                )

        def decide(alarm: Alarm, now: datetime) -> tuple[dict[str, object], HistoryEntry]:
            if alarm.state is AlarmState.CLEARED:
                raise Refused(f"{alarm.id} is cleared; there is nothing to shelve")
            if duration is None and not alarm.active:
                raise Refused(f"{alarm.id} is not active: a one-shot shelve would end at once")
            until = now + duration if duration is not None else None
            kind = ShelveKind.TIMED if duration is not None else ShelveKind.ONE_SHOT
            shelf = Shelving(kind=kind, by=user.name, reason=text, at=now, until=until)
            detail = f"until {until:%Y-%m-%d %H:%M} UTC" if until else "one-shot: until it clears"
            return ({"shelved": shelf},
                    HistoryEntry(time=now, user=user.name, action=Action.SHELVE, comment=text,
                                 detail=detail))

        return self._act(alarm_id, user, "shelve", decide)

    def unshelve(self, alarm_id: str, user: User, comment: str = "") -> Alarm:
        self._may_respond(user)
        text = self._comment(comment)

        def decide(alarm: Alarm, now: datetime) -> tuple[dict[str, object], HistoryEntry]:
            if alarm.shelved is None:
                raise Refused(f"{alarm.id} is not shelved")
            return ({"shelved": None},
                    HistoryEntry(time=now, user=user.name, action=Action.UNSHELVE, comment=text))

        return self._act(alarm_id, user, "unshelve", decide)

    def assign(self, alarm_id: str, user: User, assignee: str, comment: str = "") -> Alarm:
        """Give the alarm to a person (a user name) or a role (``role:<name>``)."""
        if not rights(self.config, user).manage:
            raise Refused(f"your roles ({', '.join(user.roles)}) may not assign alarms; a "
                          "maintenance lead or the plant manager may")
        text = self._comment(comment)
        assignee = assignee.strip()
        known = {u.name for u in self.config.users} | {f"role:{r}" for r in self.config.roles}
        if assignee not in known:
            raise Refused(f"unknown assignee {assignee!r}: a user name or role:<role> of this plant")

        def decide(alarm: Alarm, now: datetime) -> tuple[dict[str, object], HistoryEntry]:
            return ({"assignee": assignee},
                    HistoryEntry(time=now, user=user.name, action=Action.ASSIGN, comment=text,
                                 detail=f"to {assignee}"))

        return self._act(alarm_id, user, "assign", decide)

    def note(self, alarm_id: str, user: User, comment: str) -> Alarm:
        self._may_respond(user)
        text = self._comment(comment, required="a note needs some text")

        def decide(alarm: Alarm, now: datetime) -> tuple[dict[str, object], HistoryEntry]:
            return ({}, HistoryEntry(time=now, user=user.name, action=Action.NOTE, comment=text))

        return self._act(alarm_id, user, "note", decide)


__all__ = ["SYSTEM", "AlarmService", "Refused", "UnknownAlarm"]


def matching(alarms: list[Alarm], *, line: str = "", status: str = "") -> list[Alarm]:
    """The alarms of ``line`` (any when empty) in ``status``: a state, ``shelved``,
    ``suppressed`` or ``unacked`` (any when empty). Shared by the web UI and the CLI."""
    if line:
        alarms = [a for a in alarms if a.place.line == line]
    if status == "shelved":
        return [a for a in alarms if a.shelved is not None]
    if status == "suppressed":
        return [a for a in alarms if a.suppressed]
    if status == "unacked":
        return [a for a in alarms if a.unacked]
    if status:
        return [a for a in alarms if a.state.value == status]
    return alarms
