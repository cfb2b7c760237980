from __future__ import annotations

import math

import pytest

from agents.errors import InputError
from agents.iso10816 import Foundation, MachineGroup, Zone, classify, zone_limits, zone_status
from agents.models import Status

# (group, foundation, A/B, B/C, C/D) as printed in ISO 10816-3 Annex A.
TABLE = [
    (MachineGroup.GROUP1, Foundation.RIGID, 2.3, 4.5, 7.1),
    (MachineGroup.GROUP1, Foundation.FLEXIBLE, 3.5, 7.1, 11.0),
    (MachineGroup.GROUP2, Foundation.RIGID, 1.4, 2.8, 4.5),
    (MachineGroup.GROUP2, Foundation.FLEXIBLE, 2.3, 4.5, 7.1),
]


@pytest.mark.parametrize(("group", "foundation", "ab", "bc", "cd"), TABLE)
def test_zone_edges(
    group: MachineGroup, foundation: Foundation, ab: float, bc: float, cd: float
) -> None:
    limits = zone_limits(group, foundation)
    assert (limits.a_b, limits.b_c, limits.c_d) == (ab, bc, cd)
    eps = 0.01
    assert classify(0.0, group, foundation) is Zone.A
    assert classify(ab, group, foundation) is Zone.A  # a boundary belongs to the better zone
    assert classify(ab + eps, group, foundation) is Zone.B
    assert classify(bc, group, foundation) is Zone.B
    assert classify(bc + eps, group, foundation) is Zone.C
    assert classify(cd, group, foundation) is Zone.C
    assert classify(cd + eps, group, foundation) is Zone.D
    assert classify(45.0, group, foundation) is Zone.D


def test_same_velocity_judged_by_machine_class() -> None:
    # 3.0 mm/s: fine for a large machine on a flexible base, needs attention for a medium one.
    assert classify(3.0, "group1", "flexible") is Zone.A
    assert classify(3.0, "group2", "rigid") is Zone.C


def test_zones_map_to_traffic_light() -> None:
    assert [zone_status(z) for z in Zone] == [Status.GREEN, Status.GREEN, Status.AMBER, Status.RED]
    assert zone_status("D") is Status.RED


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1])
def test_impossible_velocity_is_an_input_error(bad: float) -> None:
    with pytest.raises(InputError, match="finite, non-negative"):
        classify(bad, MachineGroup.GROUP2, Foundation.RIGID)


def test_unknown_class_names_the_choices() -> None:
    with pytest.raises(InputError, match="group1"):
        classify(1.0, "group3", "rigid")
