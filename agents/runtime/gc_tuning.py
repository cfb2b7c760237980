"""Garbage-collector settings for the processes that carry the loop (asset actors, the loop).

A loop process keeps a large, long-lived object graph (every agent's windows, detectors and
baselines; the outbox's reports; the driver's plant config and policy context) and makes many
short-lived containers per reading. CPython's default thresholds (700, 10, 10) then run a full
collection every few seconds, each walking the whole long-lived graph: measured in one process on
a 1,000-asset shard (``benchmarks/bench_loop.py``'s plant, 21 ticks), the ingest took 3.5 s with
the defaults and 2.0 s with ``LOOP_THRESHOLDS`` -- the same readings, the same reports.

Only the collector's schedule changes: reference counting frees everything without cycles at once,
and cyclic garbage is still collected, later. Call ``tune_for_loop`` in a process that runs the
loop, once its long-lived state is built (never in a library import: the setting is per process).
"""

from __future__ import annotations

import gc

#: Young generation collected every 50,000 net allocations (default 700); an older generation
#: after 20 collections of the younger one (default 10).
LOOP_THRESHOLDS = (50_000, 20, 20)


def tune_for_loop(*, freeze: bool = True) -> None:
    """Set ``LOOP_THRESHOLDS``; with ``freeze``, move what exists now out of the collector's
    view (``gc.freeze``): it is the process's long-lived state, not worth walking again."""
    gc.set_threshold(*LOOP_THRESHOLDS)
    if freeze:
        gc.collect()
        gc.freeze()


__all__ = ["LOOP_THRESHOLDS", "tune_for_loop"]
