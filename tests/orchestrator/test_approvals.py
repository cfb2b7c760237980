"""Approval rules built from the plant configuration."""

from __future__ import annotations

from orchestrator.approvals import policy_from_config
from orchestrator.config import parse_config


def test_role_limits_come_from_the_plant_configuration() -> None:
    config = parse_config({
        "site": "p1",
        "roles": {"buyer": {"approval_limit": 1000}, "operator": {"can_approve": False}},
    })
    policy = policy_from_config(config, auto_approve_limit=250)
    assert policy.role_limits == {"buyer": 1000.0}  # a role that may not approve has no limit at all
    assert policy.auto_approve_limit == 250 and policy.tiers[0].roles == ("maintenance_lead", "buyer")
