"""SourceHub without a network: staleness, counts per source, the buffer between sources and agents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agents.models import FaultKind
from agents.sources.base import sample
from agents.sources.buffer import ReadingBuffer
from agents.sources.hub import SourceHub
from tests.agents.sources.plant import plant

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

SOURCES = """\
[[sources]]
id = "meters"
kind = "mqtt"
endpoint = "mqtt://127.0.0.1:1883"
expect_every_s = 10
stale_after = 3
tags = [
  { asset = "pump-1", sensor = "current", topic = "plant/pump-1", path = "current" },
  { asset = "pump-1", sensor = "flow", topic = "plant/pump-1", path = "flow" },
]

[[sources]]
id = "press-plc"
kind = "modbus"
endpoint = "modbus://127.0.0.1:5020"
tags = [ { asset = "press-1", sensor = "oil_temp", register = 0, type = "int16" } ]
"""


def test_a_silent_tag_turns_no_data_after_its_periods_and_the_others_keep_flowing(tmp_path: Path) -> None:
    now = [T0]
    config = plant(tmp_path, SOURCES)
    hub = SourceHub(config.source_specs(), ReadingBuffer(tmp_path / "s.sqlite"), clock=lambda: now[0])
    current, flow = config.source_specs()[0].tags
    for i in range(6):
        now[0] = T0 + timedelta(seconds=10 * i)
        hub._on_sample(sample("meters", current, 10.0 + i, now[0]))
        if i < 2:
            hub._on_sample(sample("meters", flow, 120.0, now[0]))
        hub.flush()
    _, readings = hub.take()
    last = readings[-1]
    assert last.values == {"current": 15.0}
    (fault,) = last.source_faults
    assert fault.sensor == "flow" and fault.kind is FaultKind.NO_DATA
    assert "no update for 30 s" in fault.detail and "(source meters)" in fault.detail
    # Values per source: 6 current, 2 flow (the hub's own "no update" is not one).
    assert hub.readings_by_source() == [
        {"source": "meters", "protocol": "mqtt", "readings": 8},
        {"source": "press-plc", "protocol": "modbus", "readings": 0},
    ]


def test_taken_readings_stay_until_done_and_survive_a_restart(tmp_path: Path) -> None:
    config = plant(tmp_path, SOURCES)
    buffer = ReadingBuffer(tmp_path / "s.sqlite")
    hub = SourceHub(config.source_specs(), buffer, clock=lambda: T0)
    (oil,) = config.source_specs()[1].tags
    for i in range(3):
        hub._on_sample(sample("press-plc", oil, 400 + i, T0 + timedelta(seconds=i)))
    hub.flush()
    upto, first = hub.take()
    assert [r.time for r in first] == [T0 + timedelta(seconds=i) for i in range(3)]
    buffer.close()  # the loop died before the agents took them: nothing acknowledged
    again = SourceHub(config.source_specs(), ReadingBuffer(tmp_path / "s.sqlite"), clock=lambda: T0)
    upto, second = again.take()
    assert [r.time for r in second] == [r.time for r in first]
    assert second[0].values == {"oil_temp": 400.0}
    again.done(upto)
    assert again.take() == (None, [])
    assert again.buffer.tag_times("press-plc") == {("press-1", "oil_temp"): T0 + timedelta(seconds=2)}
