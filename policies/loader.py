"""Load policy modules from files: the built-in library plus the plant's extra directories.

Every policy file ``<name>.py`` declares ``POLICY``; its cases sit beside it in ``<name>_cases.py``
(``CASES``). Files are loaded by path under a private module name, so a policy directory needs no
``__init__.py`` and two directories may hold files of the same name. Anything wrong with a file
(syntax error, missing ``POLICY``, bad version, an exception at import) becomes a ``PolicyError``
that names the file and line.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from agents.errors import PolicyError
from policies.base import Case, Policy, source_hash
from policies.engine import LoadedPolicy

LIBRARY = Path(__file__).resolve().parent / "library"
CASES_SUFFIX = "_cases"


@dataclass(frozen=True)
class PolicyFile:
    """A loaded policy with its cases (``None``: no cases file beside it)."""

    loaded: LoadedPolicy
    cases: tuple[Case, ...] | None
    cases_path: str | None = None


def _line_of(source: str, needle: str) -> int:
    """1-based line of the first assignment of ``needle=`` / ``needle:`` in the source, or 1."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return 1
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == needle:
            return node.value.lineno
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == needle for t in node.targets
        ):
            return node.lineno
    return 1


def _exec_module(path: Path) -> tuple[ModuleType, str]:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            f"{path}: cannot read policy file ({exc.strerror}); check the path"
        ) from exc
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise PolicyError(
            f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); save the policy as UTF-8"
        ) from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise PolicyError(
            f"{path}:{exc.lineno}: syntax error: {exc.msg}; fix the policy source"
        ) from exc
    except ValueError as exc:  # e.g. a NUL byte in the source
        raise PolicyError(f"{path}:1: not Python source: {exc}") from None
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"autoops_policy_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PolicyError(f"{path}:1: not a loadable Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses / pydantic look the module up while building classes
    try:
        spec.loader.exec_module(module)
    except PolicyError as exc:
        del sys.modules[name]
        needle = next((n for n in ("evaluate", "version") if n in str(exc)), "POLICY")
        raise PolicyError(f"{path}:{_line_of(source, needle)}: {exc}") from exc
    except SystemExit as exc:
        # A policy file is a library, never a program: exiting at import would end the
        # orchestrator (or make `policy validate` exit 0 saying nothing).
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else 1
        raise PolicyError(
            f"{path}:{line}: importing the policy called sys.exit({exc.code!r}); a policy module "
            "must not exit"
        ) from None
    except Exception as exc:
        del sys.modules[name]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        line = frames[-1].lineno if frames else 1
        raise PolicyError(
            f"{path}:{line}: importing the policy raised {type(exc).__name__}: {exc}"
        ) from exc
    return module, source


def load_policy_file(path: str | Path) -> PolicyFile:
    """Load one policy file and the cases beside it."""
    path = Path(path).resolve()
    module, source = _exec_module(path)
    policy = getattr(module, "POLICY", None)
    if policy is None:
        raise PolicyError(
            f"{path}:1: no POLICY defined; declare POLICY = Policy(id=..., version=...)"
        )
    if not isinstance(policy, Policy):
        raise PolicyError(
            f"{path}:{_line_of(source, 'POLICY')}: POLICY must be a policies.base.Policy, "
            f"got {type(policy).__name__}"
        )
    loaded = LoadedPolicy(policy=policy, source_hash=source_hash(source), path=str(path))
    cases_path = path.with_name(f"{path.stem}{CASES_SUFFIX}.py")
    if not cases_path.exists():
        return PolicyFile(loaded, None)
    cases_module, cases_source = _exec_module(cases_path)
    cases = getattr(cases_module, "CASES", None)
    if not isinstance(cases, list | tuple) or not all(isinstance(c, Case) for c in cases):
        raise PolicyError(
            f"{cases_path}:{_line_of(cases_source, 'CASES')}: CASES must be a list of "
            "policies.base.Case"
        )
    return PolicyFile(loaded, tuple(cases), str(cases_path))


def policy_files(paths: Iterable[str | Path]) -> list[Path]:
    """Policy files under the given files / directories (cases files and private modules skipped)."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(
                f
                for f in sorted(p.glob("*.py"))
                if not f.stem.startswith("_") and not f.stem.endswith(CASES_SUFFIX)
            )
        elif p.is_file():
            found.append(p)
        else:
            raise PolicyError(f"{p}: no such policy file or directory")
    return found


def load_all(extra_dirs: Sequence[str | Path] = (), *, builtin: bool = True) -> list[PolicyFile]:
    """Load the library (if ``builtin``) and every extra directory; duplicate ids are an error."""
    dirs: list[str | Path] = ([LIBRARY] if builtin else []) + list(extra_dirs)
    files = [load_policy_file(f) for f in policy_files(dirs)]
    by_id: dict[str, str] = {}
    for pf in files:
        pid = pf.loaded.policy.id
        if pid in by_id:
            raise PolicyError(
                f"{pf.loaded.path}:1: policy id {pid!r} is also declared in {by_id[pid]}; "
                "ids must be unique"
            )
        by_id[pid] = pf.loaded.path
    return files
