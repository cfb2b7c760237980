"""Approval rules are checked when the plant file loads: an N-of-M nobody can complete is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError
from orchestrator.config import load_config
from orchestrator.preflight import check_plant

SAMPLE = Path(__file__).parents[2] / "orchestrator" / "plants" / "precision_components.toml"

PEOPLE = """
[roles.maintenance_lead]
approval_limit = 5000.0
[roles.buyer]
approval_limit = {buyer_limit}
[roles.plant_manager]
approval_limit = 100000.0
[roles.operator]
can_approve = false

[[users]]
name = "ana"
roles = ["maintenance_lead"]
[[users]]
name = "ben"
roles = ["plant_manager"]
[[users]]
name = "carla"
roles = ["buyer"]
[[users]]
name = "omar"
roles = ["operator"]
"""


def plant(tmp_path: Path, body: str, buyer_limit: float = 100_000.0) -> Path:
    path = tmp_path / "plant.toml"
    path.write_text(
        f'site = "p1"\nstate_dir = "{tmp_path / "state"}"\n'
        + PEOPLE.format(buyer_limit=buyer_limit)
        + body
    )
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        check_plant(load_config(path, environ={}), source=str(path))
    return str(err.value)


def test_the_sample_plant_loads(tmp_path: Path) -> None:
    config = load_config(SAMPLE, environ={"AUTOOPS_STATE_DIR": str(tmp_path)})
    check_plant(config, source=str(SAMPLE))


def test_a_tier_whose_n_of_m_the_declared_users_cannot_meet_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    path = plant(
        tmp_path,
        """
[approvals]
tiers = [
  { name = "lead", roles = ["maintenance_lead"] },
  { name = "two managers", above = 5000.0, roles = ["plant_manager"], min_approvers = 2 },
]
""",
    )
    message = refusal(path)
    assert str(path) in message
    assert "approvals.tiers[1] ('two managers', amounts above 5,000.00)" in message
    assert "2 of: plant_manager" in message and "only 1 declared user(s)" in message and "(ben)" in message


def test_a_tier_whose_roles_stop_below_its_range_is_refused(tmp_path: Path) -> None:
    # The lead tier runs up to 100,000 but the maintenance lead may approve only 5,000.
    path = plant(
        tmp_path,
        """
[approvals]
tiers = [
  { name = "lead", roles = ["maintenance_lead"] },
  { name = "board", above = 100000.0, roles = ["plant_manager"] },
]
""",
    )
    message = refusal(path)
    assert "approvals.tiers[0] ('lead', amounts above 0.00 up to 100,000.00)" in message
    assert "maintenance_lead up to 5,000.00" in message


def test_a_tier_above_every_limit_is_refused(tmp_path: Path) -> None:
    path = plant(
        tmp_path,
        """
[approvals]
tiers = [
  { name = "lead", roles = ["maintenance_lead"] },
  { name = "manager", above = 5000.0, roles = ["plant_manager"] },
  { name = "board", above = 100000.0, roles = ["plant_manager"] },
]
""",
    )
    message = refusal(path)
    assert "approvals.tiers[2] ('board'" in message
    assert "no declared user may approve more than 100,000.00" in message


def test_a_policy_asking_two_signatures_above_the_buyers_limit_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    # The order: 51,782.50 EUR needs 2 of buyer / plant manager, the buyer stops at 50,000.
    path = plant(
        tmp_path,
        """
[[inventory]]
sku = "BAR-1"
supplier = "steelco"
unit_price = 10.0
lead_time_h = 72.0

[policies.parameters.material-shortage]
buyer_limit = 20000.0
""",
        buyer_limit=50_000.0,
    )
    message = refusal(path)
    assert "policy 'material-shortage' (its 'manager' requirement, amounts above 20,000.00" in message
    assert "2 of: buyer, plant_manager" in message and "(ben)" in message
    assert "buyer up to 50,000.00" in message
    assert "policies.parameters.material-shortage" in message


def test_a_policy_with_nothing_to_act_on_in_the_plant_is_not_held_to_its_rules(tmp_path: Path) -> None:
    # No stock item: material-shortage can never propose, so what it would ask is never asked.
    path = plant(tmp_path, '\n[policies.parameters.material-shortage]\nbuyer_limit = 20000.0\n',
                 buyer_limit=50_000.0)
    check_plant(load_config(path, environ={}), source=str(path))


def test_the_same_policy_loads_when_the_buyer_can_co_sign(tmp_path: Path) -> None:
    path = plant(tmp_path, '\n[policies.parameters.material-shortage]\nbuyer_limit = 20000.0\n')
    check_plant(load_config(path, environ={}), source=str(path))


def test_a_per_asset_override_is_checked_too(tmp_path: Path) -> None:
    path = plant(
        tmp_path,
        """
[[inventory]]
sku = "BAR-1"
supplier = "steelco"
unit_price = 10.0
lead_time_h = 72.0

[policies.parameters.material-shortage]
buyer_limit = 100000.0  # two signatures only above what anyone may approve: never asked
"asset:BAR-1" = { buyer_limit = 20000.0 }
""",
        buyer_limit=50_000.0,
    )
    message = refusal(path)
    assert "policy 'material-shortage'" in message
    assert "policies.parameters.material-shortage.'asset:BAR-1'" in message
