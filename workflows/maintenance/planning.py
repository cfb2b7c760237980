"""Pure planning rules for maintenance (deterministic; imported by the workflow and unit tests)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from workflows.models import Window


def pick_window(
    windows: Iterable[Window],
    *,
    duration_h: float,
    now: datetime,
    latest_start: datetime | None = None,
    earliest_start: datetime | None = None,
) -> Window | None:
    """The earliest planned window where the job fits, starting no later than ``latest_start``
    and not before ``earliest_start`` (when the parts the job orders can be here: a window that
    starts earlier is skipped, as the policy that planned the job skipped it).

    A window already under way counts from ``now`` (what is left of it must hold the job). The
    result is trimmed to the job: it starts at the window's (or now's) start and lasts ``duration_h``.
    """
    need = timedelta(hours=duration_h)
    for window in sorted(windows, key=lambda w: w.start):
        if earliest_start is not None and window.start < earliest_start:
            continue
        start = max(window.start, now)
        if latest_start is not None and start > latest_start:
            return None  # sorted: every later window starts later still
        if window.end - start >= need:
            return Window(start=start, end=start + need, name=window.name)
    return None
