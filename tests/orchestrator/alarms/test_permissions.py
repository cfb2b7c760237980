"""Rights on alarms by role: by name by default, or as the plant file says."""

from __future__ import annotations

from datetime import timedelta

from orchestrator.alarms.permissions import rights, shift_length
from orchestrator.config import parse_config


def test_rights_follow_the_role_name_or_the_plant_file() -> None:
    config = parse_config({
        "site": "pc",
        "schedule": {"shifts": [{"name": "night", "start": "22:00:00", "end": "08:00:00"}]},
        "roles": {
            "operator": {"can_approve": False},
            "maintenance_lead": {},
            "reliability_engineer": {"can_approve": False},
            "shift_lead": {"can_approve": False, "alarms": "manage", "max_shelve_h": 24},
        },
        "users": [
            {"name": "omar", "roles": ["operator"]},
            {"name": "ana", "roles": ["maintenance_lead"]},
            {"name": "rita", "roles": ["reliability_engineer"]},
            {"name": "sam", "roles": ["shift_lead", "operator"]},
        ],
    })
    assert shift_length(config) == timedelta(hours=10)  # the night shift crosses midnight
    by = {u.name: rights(config, u) for u in config.users}
    assert (by["omar"].respond, by["omar"].manage, by["omar"].max_shelve) == (True, False, timedelta(hours=10))
    assert (by["ana"].manage, by["ana"].max_shelve) == (True, timedelta(days=7))
    assert not by["rita"].respond and not by["rita"].manage
    assert (by["sam"].manage, by["sam"].max_shelve) == (True, timedelta(hours=24))
