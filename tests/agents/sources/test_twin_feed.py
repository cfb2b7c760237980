"""The demo's twin feed: the sample plant's readings go out through an OPC UA server, an MQTT
broker (Sparkplug B) and a Modbus TCP server on loopback and come back through the sources the
same as the twin made them, tick by tick (the headless demo's determinism rests on this)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agents.simulator.feed import MODBUS_ID, MQTT_ID, OPCUA_ID, TwinFeed
from agents.simulator.plant import PlantSim, SimulationSpec
from agents.sources.buffer import ReadingBuffer
from agents.sources.hub import SourceHub
from orchestrator.assets import inventory_items
from orchestrator.config import PlantConfig, load_config
from orchestrator.demo import DEMO_PLANT

pytestmark = pytest.mark.integration


async def test_each_tick_comes_back_through_the_three_protocols_as_the_twin_made_it(
    tmp_path: Path,
) -> None:
    plant = load_config(DEMO_PLANT)
    feed = TwinFeed.for_plant(plant, wait_s=180.0)  # returns once a tick is back; bound for a busy box
    await feed.start()
    hub = None
    try:
        config = PlantConfig.model_validate({**plant.model_dump(), "sources": feed.source_tables()})
        assert {s.kind for s in config.source_specs()} == {"opcua", "mqtt", "modbus"}
        assert config.unsourced_assets() == []
        spec = SimulationSpec.model_validate(plant.simulation)
        sim = PlantSim(spec, inventory_items(plant))
        twin = PlantSim(spec, inventory_items(plant))  # the same twin, read by a function call
        hub = SourceHub(
            config.source_specs(),
            ReadingBuffer(tmp_path / "sources.sqlite"),
            flush_every_s=None,
            clock=feed.clock,
        )
        feed.attach(hub, sim.now)
        await hub.start()
        await feed.prime()
        for _ in range(12):
            await feed.publish(sim.tick(), sim.now)
            upto, taken = hub.take()
            hub.done(upto)
            got = {(r.asset_id, r.time): r for r in feed.complete(taken)}
            want = {(r.asset_id, r.time): r for r in twin.tick()}
            assert set(got) == set(want)  # one reading per asset and time, none extra
            for key, reading in want.items():
                assert not got[key].source_faults, got[key].source_faults
                assert set(got[key].values) == set(reading.values), key
                for name, value in reading.values.items():
                    # Modbus float32 registers carry the compressor's values to 7 digits
                    assert math.isclose(got[key].values[name], value, rel_tol=1e-6), (key, name)
                assert set(got[key].waveforms) == set(reading.waveforms)
        assert feed.late_ticks == 0
        counts = {s["source"]: s["readings"] for s in hub.readings_by_source()}
        assert set(counts) == {OPCUA_ID, MQTT_ID, MODBUS_ID}
        assert all(n > 0 for n in counts.values()), counts
    finally:
        if hub is not None:
            await hub.stop()
        await feed.stop()
