"""``[[sources]]`` in the plant file: typed, checked against the plant's sensors, errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import ConfigError
from orchestrator.config import load_config
from tests.agents.sources.plant import plant, write_plant

GOOD = """\
[[sources]]
id = "press-opcua"
kind = "opcua"
endpoint = "opc.tcp://127.0.0.1:4840/autoops/"
sampling_ms = 250
tags = [
  { asset = "press-1", sensor = "oil_temp", node = "ns=2;s=press-1.oil_temp", unit = "degF" },
  { asset = "press-1", sensor = "pressure", node = "ns=2;i=1001", unit = "kPa", deadband = 5.0 },
]

[[sources]]
id = "pump-modbus"
kind = "modbus"
endpoint = "modbus://127.0.0.1:5020"
unit_id = 3
tags = [
  { asset = "pump-1", sensor = "flow", register = 0, type = "float32", word_order = "little" },
  { asset = "pump-1", sensor = "current", register = 2, table = "input", type = "int16", scale = 0.1 },
]

[[sources]]
id = "meters"
kind = "mqtt"
endpoint = "mqtt://127.0.0.1:1883"
format = "sparkplug"
tags = [
  { asset = "press-1", sensor = "motor_power", group = "plant", node = "meters", device = "press-1", metric = "power", unit = "W" },
]
"""


def test_a_plant_with_three_kinds_of_source(tmp_path: Path) -> None:
    config = plant(tmp_path, GOOD)
    opcua, modbus, mqtt = config.source_specs()
    assert (opcua.kind, modbus.kind, mqtt.kind) == ("opcua", "modbus", "mqtt")
    oil, pressure = opcua.tags
    # Units that fit the sensor's kind are converted to the declared one.
    assert oil.sensor_unit == "degC" and oil.convert(212.0) == pytest.approx(100.0)
    assert pressure.convert(250.0) == pytest.approx(2.5)
    assert mqtt.tags[0].convert(1500.0) == pytest.approx(1.5)
    assert modbus.host_port == ("127.0.0.1", 5020) and modbus.tags[0].width == 2
    assert config.unsourced_assets() == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (
            ('asset = "pump-1", sensor = "flow"', 'asset = "pump-9", sensor = "flow"'),
            "sources[1].tags[0].asset",
            "unknown asset 'pump-9'",
        ),
        (
            ('sensor = "current"', 'sensor = "torque"'),
            "sources[1].tags[1].sensor",
            "no sensor 'torque'",
        ),
        (("ns=2;i=1001", "ns=2;x=oops"), "sources[0].tags[1].node", "not an OPC UA node id"),
        (
            ('unit = "kPa"', 'unit = "degC"'),
            "sources[0].tags[1].unit",
            "does not fit sensor 'pressure'",
        ),
        (('kind = "modbus"', 'kind = "profibus"'), "sources[1]", "profibus"),
        (('metric = "power", ', ""), "sources[2]", "needs metric"),
        (
            ('endpoint = "opc.tcp://127.0.0.1:4840/autoops/"', 'endpoint = "http://x"'),
            "sources[0]",
            "opc.tcp://",
        ),
    ],
)
def test_mistakes_are_refused_naming_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, words: str | None
) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    path = write_plant(tmp_path, text, name="commissioning.toml")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    message = str(err.value)
    assert str(path) in message and field in message, message
    if words:
        assert words in message, message


def test_overlapping_registers_name_both_tags(tmp_path: Path) -> None:
    # flow is a float32 at 0..1; current at 1 overlaps it (same unit, same table)
    text = GOOD.replace('register = 2, table = "input"', 'register = 1, table = "holding"')
    with pytest.raises(
        ConfigError, match=r"register 1 of unit 3 is already read by tags\[0\] \(flow\)"
    ):
        load_config(write_plant(tmp_path, text), environ={})


def test_a_sensor_fed_twice_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        'sensor = "pressure", node = "ns=2;i=1001"', 'sensor = "oil_temp", node = "ns=2;i=1001"'
    )
    text = text.replace('unit = "kPa", deadband = 5.0', 'unit = "degC"')
    with pytest.raises(
        ConfigError, match=r"press-1.oil_temp is already fed by sources\[0\].tags\[0\]"
    ):
        load_config(write_plant(tmp_path, text), environ={})


def test_assets_without_a_source_are_named(tmp_path: Path) -> None:
    only_press = GOOD.split('[[sources]]\nid = "pump-modbus"')[0]
    assert plant(tmp_path, only_press).unsourced_assets() == ["pump-1"]


def test_credentials_come_from_the_environment_and_stay_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD.replace(
        "sampling_ms = 250",
        'sampling_ms = 250\nusername_env = "T_OPC_USER"\npassword_env = "T_OPC_PASS"',
    )
    spec = plant(tmp_path, text).source_specs()[0]
    with pytest.raises(ValueError, match="'T_OPC_USER' is not set"):
        spec.credentials()
    monkeypatch.setenv("T_OPC_USER", "operator")
    monkeypatch.setenv("T_OPC_PASS", "s3cret-value")
    user, password = spec.credentials()
    assert user == "operator" and password is not None
    assert password.get_secret_value() == "s3cret-value" and "s3cret" not in repr(spec) + str(
        password
    )
