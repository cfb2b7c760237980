"""The ``autoops`` Typer application object; command modules register themselves on it."""

from __future__ import annotations

import typer

app = typer.Typer(
    rich_markup_mode=None,  # help texts name TOML tables like [[users]]: print brackets as written
    name="autoops",
    no_args_is_help=True,
    add_completion=False,
    help="autoops — autonomous operations for factories: Sense -> Decide -> Act -> Learn.",
)
