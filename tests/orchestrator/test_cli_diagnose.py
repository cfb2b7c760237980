from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import main
from tests.agents.vibration_signals import (
    FS,
    GEOMETRY_6205,
    SHAFT_HZ,
    background,
    freqs_6205,
    impact_train,
)

GEOMETRY_ARGS = [
    "--n-balls",
    str(GEOMETRY_6205.n_balls),
    "--ball-diameter",
    str(GEOMETRY_6205.ball_diameter_mm),
    "--pitch-diameter",
    str(GEOMETRY_6205.pitch_diameter_mm),
    "--shaft-hz",
    str(SHAFT_HZ),
]


def freq_args() -> list[str]:
    f = freqs_6205()
    return ["--bpfo", f"{f.bpfo}", "--bpfi", f"{f.bpfi}", "--bsf", f"{f.bsf}", "--ftf", f"{f.ftf}"]


def run(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run ``autoops`` in-process through its real entry point; return (exit code, out, err)."""
    monkeypatch.setattr(sys, "argv", ["autoops", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def inner_race_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(21)
    f = freqs_6205()
    x = impact_train(f.bpfi, rng, modulation_hz=SHAFT_HZ, modulation_depth=0.6) + background(rng)
    path = tmp_path_factory.mktemp("wf") / "inner.npy"
    np.save(path, x)
    return path


def test_inner_race_from_npy_with_geometry(
    inner_race_record: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(
        [
            "diagnose",
            "--waveform",
            str(inner_race_record),
            "--fs",
            str(FS),
            *GEOMETRY_ARGS,
            "--json",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0
    result = json.loads(out)
    assert result["faults"] == ["inner_race"]
    # One decided condition with its confidence, the other four ranked after it.
    assert result["condition"] == "inner_race" and result["confidence"] > 0.5
    alternatives = result["alternatives"]
    assert {a["condition"] for a in alternatives} == {"healthy", "outer_race", "ball", "cage"}
    assert [a["confidence"] for a in alternatives] == sorted(
        (a["confidence"] for a in alternatives), reverse=True
    )
    finding = result["findings"][0]
    assert finding["frequency_hz"] == pytest.approx(freqs_6205().bpfi, rel=0.02)
    assert finding["ratio"] >= result["ratio_threshold"]
    assert {e["kind"] for e in result["evidence"]} == {"outer_race", "inner_race", "ball", "cage"}


def test_outer_race_from_text_with_given_frequencies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(22)
    x = impact_train(freqs_6205().bpfo, rng) + background(rng)
    path = tmp_path / "outer.csv"
    # Eight comma-separated samples a line, as some data loggers write them.
    path.write_text("\n".join(", ".join(f"{v:.6f}" for v in row) for row in x.reshape(-1, 8)))
    code, out, _ = run(
        ["diagnose", "--waveform", str(path), "--fs", str(FS), *freq_args()], capsys, monkeypatch
    )
    assert code == 0
    assert "FOUND outer race defect (BPFO)" in out
    assert "condition: outer_race (confidence" in out
    assert "x background" in out


def test_healthy_record_reports_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "healthy.txt"
    np.savetxt(path, background(np.random.default_rng(23)))
    code, out, _ = run(
        ["diagnose", "--waveform", str(path), "--fs", str(FS), *GEOMETRY_ARGS, "--json"],
        capsys,
        monkeypatch,
    )
    assert code == 0
    result = json.loads(out)
    assert result["faults"] == ["none"]
    assert result["condition"] == "healthy" and result["alternatives"][0]["confidence"] < 0.5


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0.1\n0.2\nbroken\n0.3\n", "row 3: 'broken' is not a number"),
        ("0.1\n0.2\nnan\n", "row 3: sample 'nan' is not finite"),
        ("0.1 0.2 0.3\n", "only 3 samples"),
    ],
)
def test_bad_text_record_names_file_and_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str,
    expected: str,
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    code, out, err = run(
        ["diagnose", "--waveform", str(path), "--fs", str(FS), *freq_args()], capsys, monkeypatch
    )
    assert code == 2
    assert out == ""
    assert f"file {path}" in err
    assert expected in err


def test_npy_with_nan_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gap.npy"
    x = np.zeros(4096)
    x[100] = np.nan
    np.save(path, x)
    code, _, err = run(
        ["diagnose", "--waveform", str(path), "--fs", str(FS), *freq_args()], capsys, monkeypatch
    )
    assert code == 2
    assert "sample 100 (0-based) is nan" in err
    code, _, err = run(
        ["diagnose", "--waveform", str(tmp_path / "absent.npy"), "--fs", str(FS), *freq_args()],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert "absent.npy" in err and "not found" in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "no bearing frequencies"),
        (["--bpfo", "107.4"], "also give --bpfi --bsf --ftf"),
        (["--n-balls", "9", "--shaft-hz", "30"], "also give --ball-diameter --pitch-diameter"),
        (["--bpfo", "107.4", "--n-balls", "9"], "not both"),
        ([*GEOMETRY_ARGS[:-2], "--shaft-hz", "-3"], "positive"),
    ],
)
def test_missing_or_mixed_bearing_data_is_refused(
    inner_race_record: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    expected: str,
) -> None:
    code, out, err = run(
        ["diagnose", "--waveform", str(inner_race_record), "--fs", str(FS), *extra],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert out == ""
    assert expected in err
