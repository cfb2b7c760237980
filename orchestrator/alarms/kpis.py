"""Alarm-rate KPIs after ISA-18.2 / EEMUA 191, computed from the stored activations.

- ``per_10_min``: annunciated activations per 10 minutes, averaged over the observed span
  (about 1 per 10 minutes per operator position is acceptable); ``peak_10_min`` the busiest window.
- ``floods``: episodes with more than 10 activations within 10 minutes.
- ``chattering``: alarms (keys) with 3 or more activations within one minute.
- ``stale``: alarms continuously active for more than 24 hours.
- ``top``: the 10 most frequent alarms.

Shelved and suppressed-by-design activations are counted apart (``not_annunciated``): they
did not reach the operator. ``now`` is the plant's clock (the newest condition seen).
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from orchestrator.alarms.model import Alarm
from orchestrator.alarms.store import Activation

WINDOW = timedelta(minutes=10)
FLOOD_ABOVE = 10
CHATTER_WINDOW = timedelta(minutes=1)
CHATTER_AT = 3
STALE_AFTER = timedelta(hours=24)


def _rate(count: int, start: datetime | None, end: datetime) -> float:
    if start is None:
        return 0.0
    span = max(end - start, WINDOW)
    return round(count / (span / WINDOW), 3)


def _flood_episodes(times: Sequence[datetime]) -> tuple[int, int]:
    """(episodes with more than FLOOD_ABOVE in a WINDOW, the most in any WINDOW)."""
    window: deque[datetime] = deque()
    episodes = peak = 0
    flooding = False
    for t in times:
        window.append(t)
        while window and window[0] <= t - WINDOW:
            window.popleft()
        peak = max(peak, len(window))
        if len(window) > FLOOD_ABOVE and not flooding:
            episodes += 1
            flooding = True
        elif len(window) <= FLOOD_ABOVE:
            flooding = False
    return episodes, peak


def _chattering(activations: Sequence[Activation]) -> list[str]:
    by_key: dict[str, list[datetime]] = defaultdict(list)
    for a in activations:
        by_key[a.key].append(a.time)
    found = []
    for key, times in by_key.items():
        times.sort()
        if any(times[i + CHATTER_AT - 1] - times[i] <= CHATTER_WINDOW
               for i in range(len(times) - CHATTER_AT + 1)):
            found.append(key)
    return sorted(found)


def compute(activations: Sequence[Activation], open_alarms: Sequence[Alarm], now: datetime
            ) -> dict[str, Any]:
    """The KPIs as one JSON-ready dict (see the module docstring)."""
    shown = sorted((a for a in activations if a.annunciated), key=lambda a: a.time)
    times = [a.time for a in shown]
    start = times[0] if times else None
    floods, peak = _flood_episodes(times)
    chatter = _chattering(activations)
    last_activation: dict[str, datetime] = {}
    for a in activations:
        last_activation[a.key] = max(a.time, last_activation.get(a.key, a.time))
    stale = sorted(
        a.id for a in open_alarms
        if a.active and now - last_activation.get(a.key, a.raised_at) > STALE_AFTER
    )
    by_line: dict[str, dict[str, Any]] = {}
    for line, group in _group(shown, lambda a: a.line or "(no line)").items():
        line_floods, line_peak = _flood_episodes([a.time for a in group])
        by_line[line] = {
            "activations": len(group),
            "per_10_min": _rate(len(group), start, now),
            "peak_10_min": line_peak,
            "floods": line_floods,
        }
    counts = Counter(a.key for a in activations)
    assets = {a.key: a.asset_id for a in activations}
    return {
        "since": start.isoformat() if start else None,
        "until": now.isoformat(),
        "activations": len(shown),
        "not_annunciated": len(activations) - len(shown),
        "per_10_min": _rate(len(shown), start, now),
        "peak_10_min": peak,
        "floods": floods,
        "chattering": len(chatter),
        "chattering_alarms": chatter,
        "stale": len(stale),
        "stale_alarms": stale,
        "top": [{"key": k, "asset_id": assets[k], "count": n} for k, n in counts.most_common(10)],
        "by_line": by_line,
    }


def _group(items: Sequence[Activation], key: Any) -> dict[str, list[Activation]]:
    out: dict[str, list[Activation]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out


__all__ = ["CHATTER_AT", "FLOOD_ABOVE", "STALE_AFTER", "compute"]
