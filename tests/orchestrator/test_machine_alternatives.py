"""Machine alternatives as shared views say what the per-machine tuples said."""

from __future__ import annotations

import random

from orchestrator.plant_context import _machine_infos


def brute_force(tables: list[dict]) -> dict[str, tuple[str, ...]]:
    """Every other machine sharing a capability, in the plant's order (the former tuples)."""
    out = {}
    for i, t in enumerate(tables):
        caps = set(t.get("capabilities", ()))
        out[t["id"]] = tuple(
            u["id"] for j, u in enumerate(tables) if j != i and caps & set(u.get("capabilities", ()))
        )
    return out


def test_alternatives_are_the_machines_sharing_a_capability_in_plant_order() -> None:
    rng = random.Random(3)
    caps = ["milling", "drilling", "turning", "grinding", "harden"]
    tables = [
        {"id": f"m-{i:02d}", "capabilities": rng.sample(caps, rng.randint(0, 3)), "line": "l"}
        for i in range(40)
    ]
    want = brute_force(tables)
    infos = _machine_infos(tables)
    for asset, alternatives in want.items():
        got = infos[asset].alternatives
        assert tuple(got) == alternatives and got == alternatives and len(got) == len(alternatives)
        assert bool(got) is bool(alternatives)
        assert asset not in got and all(a in got for a in alternatives)
        if alternatives:
            assert got[0] == alternatives[0] and got[-1] == alternatives[-1]
        assert len(repr(got)) < 80 or len(alternatives) <= 6
    queued = infos["m-00"].model_copy(update={"queued_jobs": 3})
    assert queued.alternatives == want["m-00"] and queued.queued_jobs == 3
