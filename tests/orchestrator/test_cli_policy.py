"""`autoops policy ...` as an operations engineer runs it (real console script, real files)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from policies.loader import LIBRARY
from tests.policies.helpers import write_twin_history

AUTOOPS = Path(sys.executable).parent / "autoops"


def autoops(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AUTOOPS), *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def copy_policy(tmp_path: Path, stem: str, with_cases: bool = True) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir(exist_ok=True)
    shutil.copy(LIBRARY / f"{stem}.py", folder)
    if with_cases:
        shutil.copy(LIBRARY / f"{stem}_cases.py", folder)
    return folder


def test_list_shows_id_version_owner_autonomy() -> None:
    out = autoops("policy", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert len(rows) == 6
    assert rows["vibration-p1"]["version"] == "1.0.0"
    assert rows["material-shortage"]["autonomy"] == "auto"
    assert rows["bearing-wear"]["owner"] == "reliability-engineering"
    table = autoops("policy", "list").stdout
    assert table.splitlines()[0].split() == ["ID", "VERSION", "OWNER", "AUTONOMY"]
    assert "compressor-drift" in table and "approve" in table
    # A flag for review reaches a person (a review in the owner's inbox), so it is no longer suggest.
    assert rows["compressor-drift"]["autonomy"] == "approve" and rows["compressor-drift"]["version"] == "2.0.0"


def test_test_passes_on_the_shipped_library() -> None:
    out = autoops("policy", "test")
    assert out.returncode == 0, out.stdout
    summary = out.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "failed" not in summary
    assert "bearing-wear::green machine stays silent PASSED" in out.stdout


def test_test_fails_when_a_case_is_broken(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path, "vibration_p1")
    cases = folder / "vibration_p1_cases.py"
    # someone "fixes" the silent case's reading to 9.2 mm/s: the policy now fires where the
    # case says it must not
    text = cases.read_text()
    assert '(4.2, "mm/s")' in text
    cases.write_text(text.replace('(4.2, "mm/s")', '(9.2, "mm/s")'))
    out = autoops("policy", "test", str(folder))
    assert out.returncode != 0
    assert "vibration-p1::4.2 mm/s is below X FAILED" in out.stdout
    assert "expected no action, got ['create_work_order']" in out.stdout
    # the failure points at the case in its file, like pytest does
    name_line = text.splitlines().index('        "4.2 mm/s is below X",') + 1
    assert f"FAILED {cases}:{name_line - 1}::vibration-p1::4.2 mm/s is below X" in out.stdout
    assert "1 failed" in out.stdout.splitlines()[-1]


def test_test_fails_a_policy_without_cases(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path, "sensor_fault", with_cases=False)
    out = autoops("policy", "test", str(folder))
    assert out.returncode != 0
    assert "policy has no cases" in out.stdout


def test_validate_reports_a_broken_policy_with_file_and_line(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path, "compressor_drift")
    source = folder / "compressor_drift.py"
    lines = source.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == 'version="2.0.0",')
    lines[at] = lines[at].replace("2.0.0", "2.0")
    source.write_text("\n".join(lines) + "\n")
    out = autoops("policy", "validate", str(folder))
    assert out.returncode != 0
    assert f"BROKEN {source}:{at + 1}:" in out.stdout
    assert "'2.0' is not semantic versioning" in out.stdout
    good = autoops("policy", "validate", str(LIBRARY))
    assert good.returncode == 0 and good.stdout.count("ok ") == 6


def test_backtest_a_recorded_bearing_wear_history(tmp_path: Path) -> None:
    csv_path, toml_path, failure = write_twin_history(tmp_path, seed=2)
    out = autoops(
        "policy",
        "backtest",
        "--history",
        str(csv_path),
        "--asset",
        str(toml_path),
        "--policy",
        "bearing-wear",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert list(result["policies"]) == ["bearing-wear"]
    maint = [d for d in result["policies"]["bearing-wear"] if d["action"] == "schedule_maintenance"]
    assert len(maint) == 1 and maint[0]["outcome"] == "shadow"
    lead_h = (failure - datetime.fromisoformat(maint[0]["time"])).total_seconds() / 3600
    assert lead_h >= 50.0
    assert "planned window" in maint[0]["explanation"]


def test_backtest_with_an_unknown_policy_says_which_exist(tmp_path: Path) -> None:
    csv_path, toml_path, _ = write_twin_history(tmp_path, seed=1)
    out = autoops(
        "policy",
        "backtest",
        "--history",
        str(csv_path),
        "--asset",
        str(toml_path),
        "--policy",
        "nope",
    )
    assert out.returncode == 2
    assert "no policy 'nope'" in out.stderr and "bearing-wear" in out.stderr
