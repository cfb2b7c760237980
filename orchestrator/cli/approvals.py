"""`autoops approvals` commands (being written)."""

from __future__ import annotations

from orchestrator.cli.app import app  # noqa: F401
