"""Hypothesis settings and the case counter shared by the fuzz tests.

Every fuzz test is bounded: ``max_examples`` per test, ``deadline=None`` (a busy CI box must not
turn a slow example into a failure), no example database (nothing written to the work tree) and
derandomized so that CI runs the same cases every time. ``HYPOTHESIS_PROFILE=fuzz-explore`` draws
fresh random cases instead, for a longer hunt on a developer's machine.

The counter records how many cases each test generated; the total is printed at the end of the
run (the figure quoted in ``reports/fuzz.md``).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
    print_blob=True,
)
settings.register_profile("fuzz", derandomize=True, **_COMMON)
settings.register_profile("fuzz-explore", derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz"))

CASES: Counter[str] = Counter()


@pytest.fixture()
def count(request: pytest.FixtureRequest):
    """Call once per generated case: ``count()``."""
    name = request.node.nodeid

    def tick() -> None:
        CASES[name] += 1

    return tick


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if CASES:
        terminalreporter.write_sep("-", "fuzz cases")
        for name, n in sorted(CASES.items()):
            terminalreporter.write_line(f"{n:7d}  {name}")
        terminalreporter.write_line(f"{sum(CASES.values()):7d}  generated cases in total")
