"""Who owns an asset (``[owners]``): defaults per asset kind, per-asset overrides, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError
from orchestrator.approvals import policy_from_config
from orchestrator.config import load_config, parse_config
from orchestrator.demo import DEMO_PLANT
from workflows.models import DEFAULT_OWNER


def _plant(**extra: object) -> dict[str, object]:
    return {
        "site": "pc",
        "roles": {"maintenance_lead": {"approval_limit": 5000}, "buyer": {"approval_limit": 20000}},
        "users": [{"name": "ana", "roles": ["maintenance_lead"]}, {"name": "carla", "roles": ["buyer"]}],
        "machines": [{"id": "mill-1"}],
        "inventory": [{"sku": "BK-6205"}],
        "energy": [{"system_id": "plant-energy", "meters": [{"meter_id": "C-1", "kind": "compressor"}]}],
        **extra,
    }


def test_the_sample_plant_routes_each_asset_to_the_role_that_owns_it() -> None:
    config = load_config(DEMO_PLANT)
    owners = policy_from_config(config).owners
    assert owners["mill-1"] == "maintenance_lead" and owners["C-1"] == "maintenance_lead"
    assert owners["BAR-42CRMO4-40"] == "buyer" and owners["BK-6205"] == "buyer"
    assert policy_from_config(config).owner_of("an-unknown-asset") == DEFAULT_OWNER


def test_an_asset_may_have_its_own_owner() -> None:
    config = parse_config(_plant(owners={"assets": {"C-1": "buyer"}}))
    assert config.owner_of("C-1") == "buyer" and config.owner_of("plant-energy") == "maintenance_lead"
    assert config.owner_of("BK-6205") == "buyer" and config.owner_of("mill-1") == "maintenance_lead"


def test_an_owner_role_that_is_not_declared_is_refused_at_load_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"owners\.energy: unknown role 'energy_manager'"):
        parse_config(_plant(owners={"energy": "energy_manager"}))
    with pytest.raises(ConfigError, match=r"owners\.assets\.C-1: unknown role 'nobody'"):
        parse_config(_plant(owners={"assets": {"C-1": "nobody"}}))


def test_an_owner_role_no_user_holds_is_refused_at_load(tmp_path: Path) -> None:
    plant = _plant()
    plant["users"] = [{"name": "ana", "roles": ["maintenance_lead"]}]  # nobody buys
    with pytest.raises(ConfigError, match=r"owners\.inventory: no user holds role 'buyer'"):
        parse_config(plant)
    # Without inventory nothing is owned by the buyer, and the plant loads.
    plant["inventory"] = []
    assert parse_config(plant).owners.inventory == "buyer"
