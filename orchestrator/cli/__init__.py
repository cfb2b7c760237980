"""Command-line entry point ``autoops``.

Each command group lives in its own module and registers on ``app``; importing the module is
enough. Errors we raise on purpose (``AutoopsError``) are printed as one clear line, exit code 2.
Anything else that escapes a command is still one line on stderr, never a traceback: an
``OSError`` names the file (exit 2), anything else is reported as a bug (exit 70); set
``AUTOOPS_DEBUG=1`` to see the traceback.
"""

from __future__ import annotations

import os
import sys

from agents.errors import AutoopsError
from orchestrator.cli import (  # noqa: F401  (importing a module registers its commands)
    alarms,
    approvals,
    decisions,
    demo,
    diagnose,
    policy,
    prognostics,
    replay,
    report,
    roles,
    sense,
    sources,
    trace,
)
from orchestrator.cli.app import app


def main() -> None:
    try:
        # Non-standalone click returns a command's ``typer.Exit(code)`` instead of exiting with it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except AutoopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as exc:  # typer/click usage errors arrive here in non-standalone mode
        import click
        import typer

        # typer >= 0.29 parses with its own vendored click, whose usage errors (missing option,
        # bad value) are not ``click`` classes but expose the same ``show`` / ``exit_code``.
        vendored = isinstance(exc, typer.TyperException) and hasattr(exc, "exit_code")
        if isinstance(exc, click.exceptions.ClickException) or vendored:
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            sys.exit(1)
        sys.exit(_unexpected(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _unexpected(exc: BaseException) -> int:
    """One line for an error no command turned into an ``AutoopsError``; the exit code."""
    if os.environ.get("AUTOOPS_DEBUG"):
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if isinstance(exc, RecursionError):
        print("error: input nested too deeply to read", file=sys.stderr)
        return 2
    print(
        f"error: unexpected {type(exc).__name__}: {str(exc)[:500]}\n"
        "this is a bug in autoops, not in your input; please report it with the command line "
        "(AUTOOPS_DEBUG=1 shows the traceback)",
        file=sys.stderr,
    )
    return 70


__all__ = ["app", "main"]
