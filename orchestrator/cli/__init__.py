"""Command-line entry point ``autoops``.

Each command group lives in its own module and registers on ``app``; importing the module is
enough. Errors we raise on purpose (``AutoopsError``) are printed as one clear line, exit code 2.
"""

from __future__ import annotations

import sys

from agents.errors import AutoopsError
from orchestrator.cli import (  # noqa: F401  (importing a module registers its commands)
    approvals,
    decisions,
    demo,
    diagnose,
    policy,
    prognostics,
    replay,
    sense,
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
        raise


__all__ = ["app", "main"]
