from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents import registry
from agents.base import Reading
from agents.errors import ConfigError
from agents.models import AssetKind
from agents.registry import (
    EnergyAgentSpec,
    MachineAgentSpec,
    build_agent,
    parse_spec,
    spec_from_table,
)

MILL = {
    "kind": "machine",
    "asset_id": "mill-1",
    "config": {
        "sensors": [
            {"name": "vib", "kind": "vibration_velocity", "unit": "mm/s"},
            {"name": "temp", "kind": "temperature", "unit": "degC"},
        ],
        "commissioning_readings": 12,
    },
}


def test_specs_from_plain_data_build_working_agents_of_every_kind() -> None:
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    mill = build_agent(parse_spec(MILL))
    reports = [
        mill.assess(
            Reading(
                "mill-1",
                t0 + timedelta(hours=h),
                {"vib": 1.2 + 0.05 * (h % 3), "temp": 40.0 + h % 2},
            )
        )
        for h in range(14)
    ]
    assert reports[-1].report_id == "mill-1:13" and reports[-1].baseline_ready

    stock = build_agent(
        parse_spec(
            {
                "kind": "inventory",
                "asset_id": "kit-6205",
                "config": {"sku": "6205", "lead_time_days": 5},
            }
        )
    )
    assert stock.assess(Reading("kit-6205", t0, {"stock": 40})).asset_kind is AssetKind.INVENTORY

    plant = build_agent(
        EnergyAgentSpec(
            asset_id="site-energy",
            config={"meters": [{"meter_id": "main", "kind": "plant_main"}]},
        )
    )
    meter = build_agent(
        EnergyAgentSpec(asset_id="comp-1", scope="meter", config={"kind": "compressor"})
    )
    assert (plant.asset_id, meter.asset_id) == ("site-energy", "comp-1")


def test_spec_errors_name_the_field_and_the_file() -> None:
    with pytest.raises(ConfigError, match=r"plant\.toml.*field kind"):
        parse_spec({"kind": "telepathy", "asset_id": "x"}, source="plant.toml")
    with pytest.raises(ConfigError, match=r"field asset_id"):
        parse_spec({"kind": "machine", "asset_id": ""})
    bad_unit = {
        **MILL,
        "config": {"sensors": [{"name": "vib", "kind": "vibration_velocity", "unit": "bar"}]},
    }
    with pytest.raises(
        ConfigError, match=r"asset 'mill-1' \(machine\) config.*sensor 'vib': unit 'bar'"
    ):
        build_agent(parse_spec(bad_unit))


def test_a_config_for_another_asset_is_refused() -> None:
    spec = MachineAgentSpec(asset_id="mill-1", config={**MILL["config"], "id": "mill-2"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="describes asset 'mill-2'.*make the spec's asset_id"):
        build_agent(spec)


def test_a_kind_whose_module_is_missing_fails_only_when_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stand-in for a build that ships without one agent module: the registry itself still imports.
    missing = registry._Kind("agents.not_in_this_build", "Config", "Agent", "id")
    monkeypatch.setitem(registry._KINDS, (AssetKind.MACHINE, None), missing)
    spec = parse_spec(MILL)
    with pytest.raises(
        ConfigError, match=r"kind 'machine' live in agents\.not_in_this_build.*not installed"
    ):
        build_agent(spec)


def test_plant_file_tables_become_specs_with_their_own_ids() -> None:
    mill = spec_from_table("machine", {**MILL["config"], "id": "mill-7"}, where="machines[0]")
    kit = spec_from_table("inventory", {"sku": "6205", "lead_time_h": 96}, where="inventory[0]")
    site = spec_from_table(
        "energy",
        {"system_id": "site", "meters": [{"meter_id": "main", "kind": "plant_main"}]},
        where="energy[0]",
    )
    assert (mill.asset_id, kit.asset_id, site.asset_id) == ("mill-7", "6205", "site")
    assert build_agent(kit).asset_id == "6205" and build_agent(site).asset_id == "site"
    with pytest.raises(
        ConfigError, match=r"plant\.toml.*machines\[3\]: give the asset an id in field 'id'"
    ):
        spec_from_table("machine", MILL["config"], where="machines[3]", source="plant.toml")
