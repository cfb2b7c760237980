"""Store-and-forward: a bounded on-disk queue of readings between the sources and the agents.

Readings assembled from the sources are appended here (SQLite, WAL, one file in the state
directory) before anything else happens to them, and taken out in the order they went in, with
their original timestamps, only once the agents accepted them (``peek`` then ``ack``). So a reading
survives Ray being down, the loop being busy, and the orchestrator being stopped or killed: the
next one delivers it. A reading delivered twice (taken, agents done, killed before ``ack``) is
harmless: the agents recognise it by asset and time.

Bounded: beyond ``max_readings`` the oldest are dropped, counted (``dropped``, kept in the file)
and logged as a warning — a plant that stays disconnected for days loses its oldest data, not its
newest, and never its disk.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Reading
from agents.models import SensorFault

log = logging.getLogger(__name__)


def _num(v: float) -> Any:
    return v if math.isfinite(v) else repr(v)  # JSON has no NaN / inf


def dump(reading: Reading) -> str:
    return json.dumps(
        {
            "asset": reading.asset_id,
            "time": reading.time.isoformat(),
            "values": {k: _num(float(v)) for k, v in reading.values.items()},
            "waveforms": {
                k: np.asarray(v, dtype=float).tolist() for k, v in reading.waveforms.items()
            },
            "faults": [f.model_dump(mode="json") for f in reading.source_faults],
        }
    )


def load(text: str) -> Reading:
    doc = json.loads(text)
    return Reading(
        asset_id=doc["asset"],
        time=datetime.fromisoformat(doc["time"]),
        values={k: float(v) for k, v in doc["values"].items()},
        waveforms={k: np.asarray(v, dtype=np.float64) for k, v in doc.get("waveforms", {}).items()},
        source_faults=tuple(SensorFault.model_validate(f) for f in doc.get("faults", ())),
    )


class ReadingBuffer:
    """A FIFO of readings on disk. Thread-safe; one writer process at a time."""

    def __init__(self, path: str | Path, *, max_readings: int = 100_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_readings = max_readings
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "asset TEXT NOT NULL, time TEXT NOT NULL, body TEXT NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('dropped', 0)")
        # Newest source time taken in per tag: where a source's back-fill resumes after a stop.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tag_times (source TEXT, asset TEXT, sensor TEXT, "
            "time TEXT NOT NULL, PRIMARY KEY (source, asset, sensor))"
        )

    def put(
        self,
        readings: Sequence[Reading],
        seen: Mapping[tuple[str, str, str], datetime] | None = None,
    ) -> int:
        """Append readings (and, in the same transaction, the newest source time per tag
        ``(source, asset, sensor)`` they hold); returns how many old readings were dropped."""
        if not readings and not seen:
            return 0
        over = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO tag_times VALUES (?, ?, ?, ?) ON CONFLICT (source, asset, sensor) "
                    "DO UPDATE SET time = excluded.time WHERE excluded.time > tag_times.time",
                    [(*key, t.astimezone(UTC).isoformat()) for key, t in (seen or {}).items()],
                )
                self._db.executemany(
                    "INSERT INTO readings (asset, time, body) VALUES (?, ?, ?)",
                    [(r.asset_id, r.time.isoformat(), dump(r)) for r in readings],
                )
                (count,) = self._db.execute("SELECT COUNT(*) FROM readings").fetchone()
                over = count - self.max_readings
                if over > 0:
                    self._db.execute(
                        "DELETE FROM readings WHERE seq IN "
                        "(SELECT seq FROM readings ORDER BY seq LIMIT ?)",
                        (over,),
                    )
                    self._db.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped'", (over,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if over > 0:
            log.warning(
                "store-and-forward buffer %s full (%d readings): dropped the %d oldest, %d so far",
                self.path,
                self.max_readings,
                over,
                self.dropped,
            )
            return over
        return 0

    def tag_times(self, source: str) -> dict[tuple[str, str], datetime]:
        """(asset, sensor) -> newest source time taken in from ``source``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT asset, sensor, time FROM tag_times WHERE source = ?", (source,)
            ).fetchall()
        return {(a, s): datetime.fromisoformat(t) for a, s, t in rows}

    def peek(self, limit: int = 1000) -> list[tuple[int, Reading]]:
        """The oldest readings not yet acknowledged, in order, with their sequence numbers."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM readings ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, load(body)) for seq, body in rows]

    def ack(self, upto_seq: int) -> None:
        """Forget every reading up to and including ``upto_seq``: the agents have them."""
        with self._lock:
            self._db.execute("DELETE FROM readings WHERE seq <= ?", (upto_seq,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0])

    @property
    def dropped(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()[0]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = ["ReadingBuffer", "dump", "load"]
