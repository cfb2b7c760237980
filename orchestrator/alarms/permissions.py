"""Who may do what to an alarm, by role.

A role's rights come from its ``alarms`` and ``max_shelve_h`` fields in the plant file, else from
its name:

===================  ==========================================  =====================
role                 may                                         shelve at most
===================  ==========================================  =====================
operator             acknowledge, shelve, unshelve, note         one shift (the longest
                                                                 declared, else 8 h)
maintenance_lead,    all of the above, and assign                7 days
plant_manager
any other role       look only (a viewer)                        —
===================  ==========================================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from orchestrator.config import PlantConfig, User

RESPOND = "respond"  # acknowledge, shelve, unshelve, note
MANAGE = "manage"  # respond, and assign
NONE = "none"

_BY_NAME = {"operator": RESPOND, "maintenance_lead": MANAGE, "plant_manager": MANAGE}
MANAGER_SHELVE = timedelta(days=7)
DEFAULT_SHIFT = timedelta(hours=8)


class Refused(Exception):
    """An alarm action the server will not do; the message is shown to the person as it is."""


@dataclass(frozen=True)
class Rights:
    respond: bool = False
    manage: bool = False
    max_shelve: timedelta = timedelta(0)


def shift_length(config: PlantConfig) -> timedelta:
    """The longest declared shift (a night shift crosses midnight), else 8 h."""
    longest = timedelta(0)
    for shift in config.schedule.shifts:
        start = datetime.combine(datetime.min, shift.start)
        end = datetime.combine(datetime.min, shift.end)
        length = end - start if end > start else end + timedelta(days=1) - start
        longest = max(longest, length)
    return longest or DEFAULT_SHIFT


def rights(config: PlantConfig, user: User) -> Rights:
    """What ``user`` may do to alarms: the union of their roles' rights."""
    respond = manage = False
    max_shelve = timedelta(0)
    for name in user.roles:
        role = config.roles.get(name)
        level = (role.alarms if role is not None and role.alarms else None) or _BY_NAME.get(
            name, NONE
        )
        if level == NONE:
            continue
        respond = True
        manage = manage or level == MANAGE
        if role is not None and role.max_shelve_h is not None:
            limit = timedelta(hours=role.max_shelve_h)
        else:
            limit = MANAGER_SHELVE if level == MANAGE else shift_length(config)
        max_shelve = max(max_shelve, limit)
    return Rights(respond=respond, manage=manage, max_shelve=max_shelve)


__all__ = ["MANAGE", "NONE", "RESPOND", "Refused", "Rights", "rights", "shift_length"]
