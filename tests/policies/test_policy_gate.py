"""``autoops policy validate`` is a gate (issue 10, defect 8): a policy that hangs, exits, has no
callable ``evaluate`` or repeats an id is BROKEN with its file, and the command exits non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents.errors import PolicyError
from policies.isolated import check_file, check_files
from policies.loader import load_policy_file
from tests.policies.test_loader import GOOD, write

AUTOOPS = Path(sys.executable).parent / "autoops"
# The same policy without its __future__ import, so statements can go before it.
BODY = GOOD.replace("from __future__ import annotations\n", "")


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AUTOOPS), "policy", "validate", *args], capture_output=True, text=True, timeout=120
    )


def test_evaluate_that_is_not_a_function_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("evaluate=evaluate", "evaluate=5"))
    with pytest.raises(PolicyError, match=r"custom_check.py:\d+: .*evaluate must be a function"):
        load_policy_file(path)


def test_evaluate_with_the_wrong_signature_is_refused_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("def evaluate(reports, ctx, params)", "def evaluate(r)"))
    with pytest.raises(PolicyError, match=r"three arguments .*its signature is \(r\)"):
        load_policy_file(path)


def test_sys_exit_at_import_is_a_broken_policy_not_an_exit(tmp_path: Path) -> None:
    path = write(tmp_path, "import sys\nsys.exit(0)\n" + BODY)
    with pytest.raises(PolicyError, match=r"custom_check.py:2: .*sys.exit\(0\)"):
        load_policy_file(path)


def test_non_utf8_policy_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "custom_check.py"
    path.write_bytes(b"# ok\n# caf\xe9\n" + GOOD.encode())
    with pytest.raises(PolicyError, match=r"custom_check.py:2: not UTF-8"):
        load_policy_file(path)


def test_endless_loop_at_import_times_out_in_the_child(tmp_path: Path) -> None:
    path = write(tmp_path, "while True:\n    pass\n" + BODY)
    result = check_file(path, timeout_s=3)
    assert not result.ok and "did not finish within 3 s" in result.error


def test_os_exit_at_import_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "import os\nos._exit(0)\n" + BODY)
    result = check_file(path, timeout_s=30)
    assert not result.ok and "ended the checking process" in result.error


def test_two_files_with_one_id_the_second_is_broken(tmp_path: Path) -> None:
    first = write(tmp_path, GOOD, "a_check.py")
    second = write(tmp_path, GOOD, "b_check.py")
    results = check_files([first, second], timeout_s=30)
    assert results[0].ok
    assert not results[1].ok and "'custom-check' is also declared in" in results[1].error


def test_validate_cli_exits_non_zero_for_each_kind_of_broken_policy(tmp_path: Path) -> None:
    write(tmp_path, "while True:\n    pass\n" + BODY, "loops.py")
    write(tmp_path, "import sys\nsys.exit(0)\n" + BODY, "exits.py")
    write(tmp_path, GOOD.replace("evaluate=evaluate", "evaluate=5"), "five.py")
    write(tmp_path, GOOD, "one.py")
    write(tmp_path, GOOD, "two.py")  # same id as one.py
    out = validate(str(tmp_path), "--timeout", "3")
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith(f"BROKEN {tmp_path / 'loops.py'}:1:") for line in lines)
    assert any(line.startswith(f"BROKEN {tmp_path / 'exits.py'}:2:") for line in lines)
    assert any("five.py" in line and "evaluate must be a function" in line for line in lines)
    assert any(line.startswith(f"ok     {tmp_path / 'one.py'}") for line in lines)
    assert any("two.py" in line and "also declared" in line for line in lines)
    assert "Traceback" not in out.stderr


def test_validate_cli_on_a_lone_exit_zero_file_is_not_silent_success(tmp_path: Path) -> None:
    path = write(tmp_path, "import sys\nsys.exit(0)\n")
    out = validate(str(path))
    assert out.returncode == 1 and "BROKEN" in out.stdout and "sys.exit(0)" in out.stdout
