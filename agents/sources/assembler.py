"""Tag samples -> the agents' ``Reading`` objects, one per asset and moment.

Sources deliver tag by tag; an agent judges an asset from all its sensors at one time. The
assembler keeps each sensor's latest sample and, on ``flush``, emits one ``Reading`` for every
asset that got something new: stamped with the newest source time among the new samples (kept
strictly increasing per asset: agents key readings by asset and time), carrying every sensor's
latest usable value (OPC UA reports changes only: an unchanged value is still the value) and, for
a sensor whose latest sample is bad or "no data", a ``SensorFault`` with the source's reason —
"since" the first bad sample of the run.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from agents.base import Reading
from agents.models import SensorFault
from agents.sources.base import TagSample

_TICK = timedelta(microseconds=1)


class ReadingAssembler:
    def __init__(self) -> None:
        self.latest: dict[str, dict[str, TagSample]] = {}
        self.bad_since: dict[tuple[str, str], datetime] = {}
        self.fresh: dict[str, datetime] = {}  # asset -> newest source time since the last flush
        self.last_time: dict[str, datetime] = {}
        self.samples_by_source: Counter[str] = Counter()

    def add(self, s: TagSample) -> None:
        self.samples_by_source[s.source_id] += 1
        self.latest.setdefault(s.asset_id, {})[s.sensor] = s
        key = (s.asset_id, s.sensor)
        if s.quality.usable:
            self.bad_since.pop(key, None)
        else:
            self.bad_since.setdefault(key, s.source_time)
        newest = self.fresh.get(s.asset_id)
        if newest is None or s.source_time > newest:
            self.fresh[s.asset_id] = s.source_time

    def flush(self) -> list[Reading]:
        """One reading per asset with new samples since the last flush, oldest first."""
        out: list[Reading] = []
        for asset, newest in sorted(self.fresh.items(), key=lambda kv: kv[1]):
            last = self.last_time.get(asset)
            time = newest if last is None or newest > last else last + _TICK
            values: dict[str, float] = {}
            faults: list[SensorFault] = []
            for sensor, s in sorted(self.latest[asset].items()):
                kind = s.quality.fault_kind
                if kind is None and s.value is not None:
                    values[sensor] = s.value
                elif kind is not None:
                    faults.append(
                        SensorFault(
                            sensor=sensor,
                            kind=kind,
                            detail=f"{s.reason} (source {s.source_id})",
                            since=self.bad_since.get((asset, sensor), s.source_time),
                        )
                    )
            self.last_time[asset] = time
            out.append(
                Reading(asset_id=asset, time=time, values=values, source_faults=tuple(faults))
            )
        self.fresh.clear()
        return out


__all__ = ["ReadingAssembler"]
