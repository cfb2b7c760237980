"""Alarms after ISA-18.2 / IEC 62682: raised from health and from workflows that need a person,
acknowledged, shelved and noted by people (audited), suppressed by design under maintenance, and
counted in alarm-rate KPIs. Plain logic here; the web routes and the CLI are at the edge."""

from orchestrator.alarms.model import Alarm, AlarmSource, AlarmState, Condition, HistoryEntry, Place
from orchestrator.alarms.permissions import Refused
from orchestrator.alarms.service import AlarmService, UnknownAlarm
from orchestrator.alarms.store import FILENAME, AlarmStore

__all__ = [
    "FILENAME",
    "Alarm",
    "AlarmService",
    "AlarmSource",
    "AlarmState",
    "AlarmStore",
    "Condition",
    "HistoryEntry",
    "Place",
    "Refused",
    "UnknownAlarm",
]
