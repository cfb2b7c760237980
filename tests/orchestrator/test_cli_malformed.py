"""Malformed input through the real ``autoops`` entry point: a clear error, never a traceback.

Issue 10, defect 7: a probe of 541 malformed inputs found 51 tracebacks. These are representative
ones, each checked for: a non-zero exit, a message naming the file and the field / row, and no
"Traceback". ``run`` and ``demo`` must refuse a bad plant file *before* starting anything: here
``Stack.start`` fails the test if it is ever reached.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.cli import main
from tests.orchestrator.test_cli_replay import ASSET

SAMPLE = (
    Path(__file__).resolve().parents[2] / "orchestrator" / "plants" / "precision_components.toml"
)
GOOD_ROWS = "".join(f"{1_767_225_600 + 600 * i},45.0,0.5\n" for i in range(30))


@pytest.fixture()
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., tuple[int, str]]:
    """Run ``autoops ARGS`` in-process; return (exit code, stdout + stderr)."""
    from orchestrator.process import Stack

    async def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("services were started for a plant file that does not validate")

    monkeypatch.setattr(Stack, "start", never)
    monkeypatch.setenv("AUTOOPS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("AUTOOPS_DEBUG", raising=False)

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["autoops", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out + err

    return run


def refused(code: int, output: str, *needles: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"


# ---------------------------------------------------------------------------------- replay


@pytest.mark.parametrize(
    ("rows", "needles"),
    [
        # epoch milliseconds
        ("1767225600000,45,0.5\n", ("row 2", "column 'time'", "milliseconds")),
        ("0000-01-01T00:00:00,45,0.5\n", ("row 2", "column 'time'", "ISO 8601")),
        ("10000-01-01T00:00:00,45,0.5\n", ("row 2", "column 'time'")),
        ("0001-01-01T00:00:00+05:00,45,0.5\n", ("row 2", "column 'time'")),
        ("-1e20,45,0.5\n", ("row 2", "out of range")),
        ("1e400,45,0.5\n", ("row 2", "not a finite")),
        ("2026-01-01T00:00:00Z,45\n", ("row 2", "2 cells")),
        ("2026-01-01T00:00:00Z,4x5,0.5\n", ("row 2", "column 'oil_temp'", "not a number")),
    ],
)
def test_replay_bad_rows(cli, tmp_path: Path, rows: str, needles: tuple[str, ...]) -> None:
    asset, readings = tmp_path / "a.toml", tmp_path / "r.csv"
    asset.write_text(ASSET)
    readings.write_text("time,oil_temp,wear_ci\n" + rows)
    refused(*cli("replay", "--asset", str(asset), "--readings", str(readings)), "r.csv", *needles)


def test_replay_non_utf8_readings(cli, tmp_path: Path) -> None:
    asset, readings = tmp_path / "a.toml", tmp_path / "r.csv"
    asset.write_text(ASSET)
    readings.write_bytes(b"time,oil_temp,wear_ci\n2026-01-01T00:00:00Z,45\xff,0.5\n")
    refused(*cli("replay", "--asset", str(asset), "--readings", str(readings)), "r.csv")


def test_replay_readings_at_the_float_limits_give_reports_not_a_crash(cli, tmp_path: Path) -> None:
    asset, readings = tmp_path / "a.toml", tmp_path / "r.csv"
    asset.write_text(ASSET)
    readings.write_text(
        "time,oil_temp,wear_ci\n"
        + "".join(
            f"{1_767_225_600 + 600 * i},{'1e308' if i % 2 else '-1e308'},"
            f"{'-1e308' if i % 2 else '1e308'}\n"
            for i in range(60)
        )
    )
    code, out = cli("replay", "--asset", str(asset), "--readings", str(readings), "--json")
    assert code == 0, out
    assert "Traceback" not in out and out.count('"report_id"') == 60
    # Garbage, not a healthy machine: every report flags both instruments, none says "healthy".
    reports = [json.loads(line) for line in out.splitlines() if '"report_id"' in line]  # JSON lines
    assert len(reports) == 60
    for report in reports:
        kinds = {(f["sensor"], f["kind"]) for f in report["sensor_faults"]}
        assert {("oil_temp", "out_of_range"), ("wear_ci", "out_of_range")} <= kinds, report


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("x = " + "[" * 5000 + "]" * 5000 + "\n", ("nested too deeply",)),
        ("a = {" * 3000 + "}" * 3000, ("not valid TOML",)),
        (ASSET.replace('unit = "degC"', 'unit = "furlongs"'), ("unit",)),
        (
            ASSET.replace("commissioning_readings = 20", "commissioning_readings = -3"),
            ("commissioning_readings",),
        ),
        (ASSET + "\nbogus = 1\n", ("bogus",)),
    ],
)
def test_replay_bad_asset_file(cli, tmp_path: Path, text: str, needles: tuple[str, ...]) -> None:
    asset, readings = tmp_path / "a.toml", tmp_path / "r.csv"
    asset.write_text(text)
    readings.write_text("time,oil_temp,wear_ci\n" + GOOD_ROWS)
    refused(*cli("replay", "--asset", str(asset), "--readings", str(readings)), "a.toml", *needles)


# ---------------------------------------------------------------------------------- prognostics


@pytest.mark.parametrize(("fmt", "name"), [("csv", "h.csv"), ("cmapss", "h.txt")])
def test_prognostics_non_utf8_history(cli, tmp_path: Path, fmt: str, name: str) -> None:
    history = tmp_path / name
    history.write_bytes(b"unit,cycle,s1\n1,1,caf\xe9\n" if fmt == "csv" else b"1 1 \xe9\n")
    args = ("--history", str(history), "--format", fmt)
    refused(*cli("prognostics", "fit", *args, "--out", str(tmp_path / "m")), name, "UTF-8")
    refused(*cli("prognostics", "predict", "--model", str(tmp_path / "m"), *args))


def test_prognostics_negative_seed(cli, tmp_path: Path) -> None:
    history = tmp_path / "h.txt"
    history.write_text("1 1 " + " ".join(["0"] * 24) + "\n")
    code, out = cli(
        "prognostics",
        "fit",
        "--history",
        str(history),
        "--out",
        str(tmp_path / "m"),
        "--seed",
        "-1",
    )
    refused(code, out, "--seed")


def test_prognostics_out_in_a_missing_folder_is_refused_before_reading(cli, tmp_path: Path) -> None:
    history = tmp_path / "h.txt"
    history.write_text("not a history at all\n")  # would fail *later*, if it were read first
    out_path = tmp_path / "missing" / "m.model"
    code, out = cli("prognostics", "fit", "--history", str(history), "--out", str(out_path))
    refused(code, out, "m.model", "does not exist")
    code, out = cli("prognostics", "fit", "--history", str(history), "--out", str(tmp_path))
    refused(code, out, "is a directory")


# ---------------------------------------------------------------------------------- policy


def test_policy_validate_non_utf8_file(cli, tmp_path: Path) -> None:
    policy = tmp_path / "latin.py"
    policy.write_bytes(b"# caf\xe9\nPOLICY = None\n")
    refused(*cli("policy", "validate", str(policy)), "latin.py:1", "UTF-8")


# ---------------------------------------------------------------------------------- run / demo


def plant(tmp_path: Path, *edits: tuple[str, str], append: str = "") -> Path:
    """The sample plant with text edits (each must apply) and extra TOML appended."""
    text = SAMPLE.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "plant.toml"
    path.write_text(text + append)
    return path


BAD_PLANTS: list[tuple[str, tuple[tuple[str, str], ...], str, tuple[str, ...]]] = [
    (
        "reference knob out of range",
        (
            (
                "cmms = { auto_complete_delay_s = 4.0, auto_complete_fault_confirmed = true }",
                "cmms = { auto_complete_delay_s = 4.0, auto_complete_fault_confirmed = true, error_rate = 2 }",
            ),
        ),
        "",
        ("endpoints.reference.cmms.error_rate",),
    ),
    (
        "unknown reference knob",
        (("supplier = { confirm_delay_s = 1.0,", "supplier = { confirm_dlay_s = 1.0,"),),
        "",
        ("endpoints.reference.supplier.confirm_dlay_s",),
    ),
    (
        "unknown reference server",
        (("cmms = { auto_complete_delay_s = 4.0, auto_complete_fault_confirmed = true }", "cmms = {}\nerp = {}"),),
        "",
        ("endpoints.reference.erp",),
    ),
    (
        "inventory without sku",
        (('sku = "BK-6205"\ndescription', "description"),),
        "",
        ("inventory[0].sku",),
    ),
    (
        "inventory with a bad lead time",
        (("lead_time_h = 48.0", 'lead_time_h = "two days"'),),
        "",
        ("inventory[0]", "lead_time_h"),
    ),
    (
        "policy parameter of the wrong type",
        (("kit_qty = 2 ", 'kit_qty = "two" '),),
        "",
        ("policies.parameters.bearing-wear", "kit_qty"),
    ),
    (
        "unknown policy parameter",
        (("kit_qty = 2 ", "kit_qty = 2\nkit_qtty = 3 "),),
        "",
        ("policies.parameters.bearing-wear", "kit_qtty"),
    ),
    (
        "parameters for a policy that does not exist",
        (),
        "\n[policies.parameters.no-such-policy]\nx = 1\n",
        ("policies.parameters.no-such-policy",),
    ),
    (
        "asset-scoped parameters for an unknown asset",
        (),
        '\n[policies.parameters.bearing-wear."asset:mill-9"]\nkit_qty = 1\n',
        ("asset:mill-9",),
    ),
    (
        "approval tier without roles",
        (
            (
                '{ name = "lead", roles = ["maintenance_lead"], deadline_s = 28800.0 }',
                '{ name = "lead", deadline_s = 28800.0 }',
            ),
        ),
        "",
        ("approvals.tiers[0].roles",),
    ),
    (
        "approval tier with an unknown role",
        (('roles = ["maintenance_lead"], deadline_s', 'roles = ["janitor"], deadline_s'),),
        "",
        ("approvals.tiers[0].roles", "janitor"),
    ),
    (
        # Issue 13: 51,782.50 EUR needed 2 of buyer / plant manager; the buyer stopped at 50,000.
        "policy asks two signatures that only one declared person can give",
        (('approval_limit = 100000.0\ndescription = "buyer', 'approval_limit = 50000.0\ndescription = "buyer'),),
        "",
        ("policy 'material-shortage'", "2 of: buyer, plant_manager", "(ben)"),
    ),
    (
        "tier whose N-of-M the declared people cannot meet",
        (('roles = ["plant_manager"], deadline_s', 'roles = ["plant_manager"], min_approvers = 2, deadline_s'),),
        "",
        ("approvals.tiers[1] ('manager'", "only 1 declared user(s)"),
    ),
    (
        "twin for an asset the plant does not have",
        (('{ asset = "mill-2", twin = "spindle"', '{ asset = "mill-22", twin = "spindle"'),),
        "",
        ("simulation.twins[1].asset", "mill-22"),
    ),
    (
        "twin of an unknown kind",
        (('{ asset = "furnace-1", twin = "furnace"', '{ asset = "furnace-1", twin = "oven"'),),
        "",
        ("simulation.twins[4].twin",),
    ),
    (
        "machine with an unknown sensor kind",
        (('kind = "temperature"', 'kind = "temprature"'),),
        "",
        ("machines[0]",),
    ),
]


@pytest.mark.parametrize(
    ("edits", "append", "needles"),
    [pytest.param(e, a, n, id=name) for name, e, a, n in BAD_PLANTS],
)
def test_run_refuses_a_bad_plant_before_starting_anything(
    cli, tmp_path: Path, edits, append: str, needles: tuple[str, ...]
) -> None:
    path = plant(tmp_path, *edits, append=append)
    refused(*cli("run", "--config", str(path)), "plant.toml", *needles)


def test_run_with_an_unusable_state_dir(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("AUTOOPS_STATE_DIR", str(blocker / "state"))
    refused(*cli("run", "--config", str(plant(tmp_path))), "plant.toml", "state_dir")


@pytest.mark.parametrize(
    "content",
    [b"x = " + b"[" * 5000 + b"]" * 5000, b'site = "x"\n\xff\n', b"site = \n"],
    ids=["5000-deep", "non-utf8", "not-toml"],
)
def test_run_with_an_unreadable_plant_file(cli, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "plant.toml"
    path.write_bytes(content)
    refused(*cli("run", "--config", str(path)), "plant.toml", "TOML")


def test_run_with_a_directory_as_plant_file(cli, tmp_path: Path) -> None:
    refused(*cli("run", "--config", str(tmp_path)), str(tmp_path), "cannot read")


def test_demo_refuses_a_bad_plant_before_starting_anything(cli, tmp_path: Path) -> None:
    path = plant(tmp_path, ("kit_qty = 2 ", 'kit_qty = "two" '))
    code, out = cli("demo", "--headless", "--config", str(path), "--state-dir", str(tmp_path / "s"))
    refused(code, out, "plant.toml", "kit_qty")


def test_an_unexpected_error_is_one_line_not_a_traceback(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agents.replay

    def boom(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(agents.replay, "read_readings_csv", boom)
    asset, readings = tmp_path / "a.toml", tmp_path / "r.csv"
    asset.write_text(ASSET)
    readings.write_text("time,oil_temp,wear_ci\n" + GOOD_ROWS)
    code, out = cli("replay", "--asset", str(asset), "--readings", str(readings))
    assert code == 70
    assert "unexpected ZeroDivisionError: division by zero" in out
    assert "this is a bug in autoops" in out and "Traceback" not in out


def test_demo_with_its_web_port_taken_says_so_before_starting_anything(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        monkeypatch.setenv("AUTOOPS_WEB_PORT", str(port))
        path = plant(tmp_path)
        code, out = cli("demo", "--headless", "--config", str(path), "--state-dir", str(tmp_path / "s"))
        refused(code, out, "web.port", f"127.0.0.1:{port}", "AUTOOPS_WEB_PORT")
    finally:
        taken.close()
