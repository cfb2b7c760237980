"""What an alarm is (ISA-18.2 / IEC 62682): its state, its priority, where it is, who did what.

States follow ISA-18.2's alarm state transition diagram::

    (condition starts)          ack                       condition ends
    normal ──────────► active_unack ──────► active_ack ─────────────────► cleared
                          │  ▲                                              ▲
           condition ends │  │ condition starts again                       │ ack
                          ▼  │                                              │
                        cleared_unack ──────────────────────────────────────┘

Alarms of workflows waiting for a person do not latch: answered in the inbox, they go straight
to ``cleared``.

Shelving (one-shot or timed, OPC UA Part 9) and suppression by design (the asset is under an
open maintenance job) are flags beside the state: the alarm keeps its state and stays visible,
it is only not annunciated.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AlarmState(StrEnum):
    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    CLEARED = "cleared"


#: Priorities as the approvals inbox spells them; P1 is the most urgent.
PRIORITIES = ("P1", "P2", "P3", "P4")


class AlarmSource(StrEnum):
    HEALTH = "health"  # the asset's status went amber or red
    INSTRUMENT = "instrument"  # a sensor fault: flatline, stuck, NaN, out of range, dropout
    WORKFLOW = "workflow"  # a workflow waits for a person: approval, escalation, partner error


class ShelveKind(StrEnum):
    ONE_SHOT = "one_shot"  # until the condition clears
    TIMED = "timed"  # until a time


class Action(StrEnum):
    """What a person (or autoops itself, as user ``autoops``) did to an alarm."""

    RAISED = "raised"
    REACTIVATED = "reactivated"
    PRIORITY = "priority"
    CLEARED = "cleared"
    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    SHELVE_EXPIRED = "shelve_expired"
    ASSIGN = "assign"
    NOTE = "note"


#: The actions a person takes; the others are autoops' own record of the alarm's life.
HUMAN_ACTIONS = frozenset(
    {Action.ACKNOWLEDGE, Action.SHELVE, Action.UNSHELVE, Action.ASSIGN, Action.NOTE}
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Place(Frozen):
    """Where the asset is, ISA-95 style, as far as the plant file says."""

    site: str = ""
    area: str = ""
    line: str = ""
    cell: str = ""


class Condition(Frozen):
    """What a rule says should be alarming now; ``key`` is stable across ticks."""

    key: str
    asset_id: str
    source: AlarmSource
    priority: str = "P3"
    message: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    time: datetime


class HistoryEntry(Frozen):
    time: datetime
    user: str
    action: Action
    comment: str = ""
    detail: str = ""


class Shelving(Frozen):
    kind: ShelveKind
    by: str
    reason: str
    at: datetime
    until: datetime | None = None  # timed only


class Alarm(Frozen):
    id: str
    key: str
    asset_id: str
    source: AlarmSource
    priority: str
    state: AlarmState
    message: str
    place: Place = Place()
    evidence: dict[str, Any] = Field(default_factory=dict)
    raised_at: datetime
    changed_at: datetime
    cleared_at: datetime | None = None
    acked_at: datetime | None = None
    acked_by: str | None = None
    activations: int = 1
    shelved: Shelving | None = None
    suppressed: str = ""  # why it is suppressed by design (e.g. "maintenance maint:site:mill-1")
    assignee: str = ""
    history: tuple[HistoryEntry, ...] = ()

    @property
    def active(self) -> bool:
        return self.state in (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)

    @property
    def unacked(self) -> bool:
        return self.state in (AlarmState.ACTIVE_UNACK, AlarmState.CLEARED_UNACK)

    @property
    def annunciated(self) -> bool:
        """Shown to the operator as an alarm to act on: neither shelved nor suppressed."""
        return self.shelved is None and not self.suppressed


__all__ = [
    "HUMAN_ACTIONS",
    "PRIORITIES",
    "Action",
    "Alarm",
    "AlarmSource",
    "AlarmState",
    "Condition",
    "HistoryEntry",
    "Place",
    "ShelveKind",
    "Shelving",
]
