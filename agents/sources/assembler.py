"""Tag samples -> the agents' ``Reading`` objects, one per asset and source time.

Sources deliver tag by tag; an agent judges an asset from all its sensors at one moment. The
assembler keeps each sensor's latest sample and, on ``flush``, turns the new samples of each
asset into readings, one per distinct source time in time order (a PLC scan or a twin tick stamps
its tags alike, so a burst of back-filled history stays one reading per moment, none lost). Each
reading carries every sensor's latest usable value as of its time (OPC UA reports changes only:
an unchanged value is still the value) and, for a sensor whose latest sample is bad or "no data",
a ``SensorFault`` with the source's reason, "since" the first bad sample.

Times stay strictly increasing per asset (agents key readings by asset and time): samples older
than the asset's last reading update the state without a reading of their own; if nothing newer
came, one reading just after the last carries them (a fault must still show).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import groupby

from agents.base import Reading
from agents.models import SensorFault
from agents.sources.base import TagSample

_TICK = timedelta(microseconds=1)


class ReadingAssembler:
    def __init__(self) -> None:
        self.latest: dict[str, dict[str, TagSample]] = {}
        self.bad_since: dict[tuple[str, str], datetime] = {}
        self.pending: dict[str, list[TagSample]] = defaultdict(list)
        self.last_time: dict[str, datetime] = {}
        self.samples_by_source: Counter[str] = Counter()

    def add(self, s: TagSample, *, counted: bool = True) -> None:
        """Take one sample (``counted``: it came from the source, not from a staleness check)."""
        if counted:
            self.samples_by_source[s.source_id] += 1
        self.pending[s.asset_id].append(s)

    def _apply(self, s: TagSample) -> None:
        self.latest.setdefault(s.asset_id, {})[s.sensor] = s
        key = (s.asset_id, s.sensor)
        if s.quality.usable:
            self.bad_since.pop(key, None)
        else:
            self.bad_since.setdefault(key, s.source_time)

    def _reading(self, asset: str, time: datetime) -> Reading:
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
        return Reading(asset_id=asset, time=time, values=values, source_faults=tuple(faults))

    def flush(self) -> list[Reading]:
        """Readings for the samples added since the last flush, oldest first."""
        out: list[Reading] = []
        for asset, samples in self.pending.items():
            emitted = False
            late = False
            ordered = sorted(samples, key=lambda s: s.source_time)  # stable: arrival order kept
            for time, group in groupby(ordered, key=lambda s: s.source_time):
                for s in group:
                    self._apply(s)
                last = self.last_time.get(asset)
                if last is not None and time <= last:
                    late = True
                    continue
                out.append(self._reading(asset, time))
                emitted = True
            if late and not emitted:
                out.append(self._reading(asset, self.last_time[asset] + _TICK))
        self.pending.clear()
        out.sort(key=lambda r: r.time)
        return out


__all__ = ["ReadingAssembler"]
