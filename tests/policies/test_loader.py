"""Broken policy files are reported with file and line; good ones load with their source hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agents.errors import PolicyError
from policies.loader import LIBRARY, load_all, load_policy_file

GOOD = """from __future__ import annotations
from pydantic import BaseModel
from policies.base import Policy


class Params(BaseModel):
    limit: float = 1.0


def evaluate(reports, ctx, params):
    return []


POLICY = Policy(
    id="custom-check",
    version="0.3.1",
    owner="plant-a reliability",
    description="a plant's own policy",
    params=Params,
    evaluate=evaluate,
)
"""


def write(tmp_path: Path, text: str, name: str = "custom_check.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_policy_loads_with_the_hash_of_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    pf = load_policy_file(path)
    assert pf.loaded.policy.id == "custom-check" and pf.loaded.policy.version == "0.3.1"
    assert pf.loaded.source_hash == hashlib.sha256(GOOD.encode()).hexdigest()
    assert pf.cases is None  # no cases file beside it: `policy test` will fail it


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    return []", "    return [", 1))
    with pytest.raises(PolicyError) as err:
        load_policy_file(path)
    line = GOOD.splitlines().index("    return []") + 1
    assert f"{path}:{line}:" in str(err.value) or f"{path}:{line + 1}:" in str(err.value)
    assert "syntax error" in str(err.value)


def test_bad_version_names_the_version_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"0.3.1"', '"v3"'))
    with pytest.raises(PolicyError) as err:
        load_policy_file(path)
    line = GOOD.splitlines().index('    version="0.3.1",') + 1
    assert f"{path}:{line}:" in str(err.value)
    assert "'v3' is not semantic versioning" in str(err.value)


def test_missing_policy_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.split("POLICY = ")[0])
    with pytest.raises(PolicyError, match=r"custom_check.py:1: no POLICY defined"):
        load_policy_file(path)


def test_exception_at_import_names_the_raising_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("class Params", "LIMITS = {}['missing']\n\n\nclass Params"))
    with pytest.raises(PolicyError) as err:
        load_policy_file(path)
    assert f"{path}:6: importing the policy raised KeyError" in str(err.value)


def test_params_without_defaults_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("limit: float = 1.0", "limit: float"))
    with pytest.raises(PolicyError, match="every parameter needs a default"):
        load_policy_file(path)


def test_duplicate_policy_ids_across_directories_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD.replace("custom-check", "bearing-wear"))
    with pytest.raises(PolicyError, match="'bearing-wear' is also declared in"):
        load_all([tmp_path])


def test_library_ships_six_policies_each_with_cases() -> None:
    files = load_all()
    assert sorted(pf.loaded.policy.id for pf in files) == [
        "bearing-wear",
        "compressor-drift",
        "material-shortage",
        "reroute-bottleneck",
        "sensor-fault",
        "vibration-p1",
    ]
    assert all(pf.cases for pf in files)
    assert all(Path(pf.loaded.path).parent == LIBRARY for pf in files)


def test_a_policy_raising_at_evaluate_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    from policies.base import PolicyContext
    from policies.engine import PolicyEngine
    from policies.models import DecisionOutcome
    from policies.testing import T0, report

    path = write(tmp_path, GOOD.replace("    return []", "    return [params.missing]", 1))
    line = GOOD.splitlines().index("    return []") + 1
    engine = PolicyEngine([load_policy_file(path).loaded])
    [d] = engine.process([report("m-1")], PolicyContext(now=T0))
    assert d.outcome is DecisionOutcome.ERROR
    assert "AttributeError" in d.explanation and f"at {path}:{line}" in d.explanation
