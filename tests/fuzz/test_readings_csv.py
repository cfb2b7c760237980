"""Fuzz: the readings CSV (``agents/replay.py``) and the agent behind it.

Any file is either read into readings or refused with an ``InputError`` that names the file (and
the row / column where one applies); any readings a file can hold give health reports. Never
another exception, never a hang.
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.errors import InputError
from agents.machine import MachineAgent
from agents.replay import load_asset_toml, read_readings_csv
from tests.fuzz.strategies import NUMBER_TEXT, TEXT
from tests.orchestrator.test_cli_replay import ASSET

pytestmark = pytest.mark.fuzz

TIME = st.one_of(
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    TEXT,
)
CELL = st.one_of(NUMBER_TEXT, TEXT)
HEADERS = st.one_of(
    st.just(["time", "oil_temp", "wear_ci"]),
    st.permutations(["time", "oil_temp", "wear_ci"]).map(list),
    st.lists(st.sampled_from(["time", "oil_temp", "wear_ci", "vib", "", "oil_temp "]), max_size=5),
    st.lists(TEXT, max_size=4),
)


def _csv_line(cells: list[str]) -> str:
    # Quote some cells so commas, quotes and newlines inside them reach the parser as data too.
    return ",".join(
        ('"' + c.replace('"', '""') + '"') if any(x in c for x in ',"\n\r') else c for c in cells
    )


@st.composite
def csv_text(draw: st.DrawFn) -> str:
    header = draw(HEADERS)
    rows = draw(
        st.lists(
            st.lists(CELL, min_size=0, max_size=5).flatmap(
                lambda cells: st.tuples(TIME, st.just(cells))
            ),
            max_size=8,
        )
    )
    lines = [_csv_line(header)] + [_csv_line([t, *cells]) for t, cells in rows]
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines) + draw(
        st.sampled_from(["", "\n"])
    )


def _check(path: Path) -> None:
    machine = load_asset_toml(_ASSET_PATH)
    try:
        rows = list(read_readings_csv(path, machine.id, machine.sensors))
    except InputError as exc:
        assert exc.file == str(path)
        assert str(exc).startswith(f"file {path}")
        return
    assert rows
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert later.time > earlier.time


_TMP = Path(tempfile.mkdtemp(prefix="autoops-fuzz-csv-"))
atexit.register(shutil.rmtree, _TMP, True)
_ASSET_PATH = _TMP / "asset.toml"
_ASSET_PATH.write_text(ASSET)


@settings(max_examples=1800)
@given(text=csv_text())
def test_structured_csv_is_read_or_refused_with_file_and_row(text: str, count) -> None:
    count()
    path = _TMP / "readings.csv"
    path.write_text(text, encoding="utf-8")
    _check(path)


@settings(max_examples=1000)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_refused(data: bytes, count) -> None:
    count()
    path = _TMP / "bytes.csv"
    path.write_bytes(b"time,oil_temp,wear_ci\n" + data)
    _check(path)


FLOAT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, math.nan]),
)


@settings(max_examples=200)
@given(
    values=st.lists(st.tuples(FLOAT, FLOAT), min_size=1, max_size=40),
    step_s=st.sampled_from([1, 600, 3600, 10**7]),
)
def test_any_values_give_health_reports(
    values: list[tuple[float, float]], step_s: int, count
) -> None:
    """Values are not file errors: extreme, NaN and infinite readings still give reports."""
    from agents.base import Reading

    count()
    agent = MachineAgent(load_asset_toml(_ASSET_PATH))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, (temp, wear) in enumerate(values):
        reading = Reading(
            asset_id=agent.asset_id,
            time=start + timedelta(seconds=i * step_s),
            values={"oil_temp": temp, "wear_ci": wear},
        )
        report = agent.assess(reading)
        assert 0.0 <= report.health_score <= 1.0
        if report.rul is not None:
            assert math.isfinite(report.rul.value)
