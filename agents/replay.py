"""Recorded data in: readings CSV files, vibration waveform files and asset TOML files.

Everything here is a boundary: it turns files into ``Reading`` objects, sample arrays and asset
configurations, and refuses a malformed *file* with an ``InputError`` naming the file, the row and
the column. A missing or non-finite *value* is not a file error: an empty cell, ``nan`` or ``inf``
goes through as NaN / inf and the agent flags it as a sensor fault, as it would live.

CSV layout (header row first)::

    time,                 bearing_temp, ci_1
    2026-01-01T00:00:00Z, 41.2,         0.12
    2026-01-01T00:10:00Z, 41.5,         nan

The first column is the timestamp, ISO 8601 (with an offset, or naive meaning UTC) or seconds
since the Unix epoch; timestamps must strictly increase. The other columns are scalar sensors
declared for the asset, each declared scalar sensor must have its column.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from agents.base import Reading
from agents.errors import ConfigError, InputError
from agents.models import SensorKind, SensorSpec
from agents.signal import MIN_SAMPLES

if TYPE_CHECKING:
    from agents.machine import MachineAsset


def _parse_time(cell: str, *, file: str, row: int, column: str) -> datetime:
    text = cell.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            raise InputError(
                f"timestamp {text!r} is not a finite number of seconds",
                file=file,
                row=row,
                column=column,
            )
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (ValueError, OverflowError, OSError):
            hint = (
                "; it looks like milliseconds: divide by 1000"
                if 1e11 <= abs(seconds) < 1e14
                else ""
            )
            raise InputError(
                f"timestamp {text!r} is out of range as seconds since the epoch (the last "
                f"representable year is 9999){hint}",
                file=file,
                row=row,
                column=column,
            ) from None
    try:
        stamp = datetime.fromisoformat(text)
        # A naive stamp is taken as UTC: plants log in many zones, reports are compared in one.
        stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InputError(
            f"timestamp {text!r} is neither ISO 8601 (2026-01-01T00:00:00Z, years 1..9999) nor "
            "seconds since the epoch",
            file=file,
            row=row,
            column=column,
        ) from None
    return stamp


def _parse_value(cell: str, *, file: str, row: int, column: str) -> float:
    text = cell.strip()
    if text == "":
        return math.nan  # a missing sample: the agent reports it as a sensor fault
    try:
        return float(text)  # also takes 'nan', 'inf', '-inf'
    except ValueError:
        raise InputError(
            f"value {text!r} is not a number (leave the cell empty for a missing sample)",
            file=file,
            row=row,
            column=column,
        ) from None


def _is_waveform(spec: SensorSpec) -> bool:
    return spec.kind is SensorKind.VIBRATION_ACCELERATION


def read_readings_csv(
    path: str | Path, asset_id: str, sensors: Sequence[SensorSpec]
) -> Iterator[Reading]:
    """Yield one ``Reading`` per data row of a readings CSV, checking it as it goes.

    Raises ``InputError`` (file, row, column) for: a missing or unreadable file, a header whose
    first column is missing or whose other columns are not declared scalar sensors (or repeat),
    a declared scalar sensor without a column, a row of the wrong width, a non-numeric cell, a
    bad or non-increasing timestamp, or a file with no data rows.
    """
    file = str(path)
    declared = {s.name: s for s in sensors}
    scalar = [s.name for s in sensors if not _is_waveform(s)]
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InputError(f"cannot open readings file: {exc.strerror}", file=file) from exc
    with handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputError("file is empty; expected a header row", file=file) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"not a readable CSV file: {exc}", file=file, row=1) from exc
        if len(header) < 2:
            raise InputError(
                "header needs a timestamp column and at least one sensor column",
                file=file,
                row=1,
            )
        time_col, columns = header[0], header[1:]
        seen: set[str] = set()
        for name in columns:
            if name in seen:
                raise InputError("column appears twice", file=file, row=1, column=name)
            seen.add(name)
            spec = declared.get(name)
            if spec is None:
                raise InputError(
                    f"column is not a sensor declared for asset {asset_id!r}; declare it in the "
                    f"asset file or remove the column (declared: {sorted(declared)})",
                    file=file,
                    row=1,
                    column=name,
                )
            if _is_waveform(spec):
                raise InputError(
                    "waveform sensors cannot be CSV columns; give them as waveform files",
                    file=file,
                    row=1,
                    column=name,
                )
        missing = [name for name in scalar if name not in seen]
        if missing:
            raise InputError(
                f"declared sensor(s) {missing} have no column; add the column(s) (empty cells "
                "are fine) or remove the sensor from the asset file",
                file=file,
                row=1,
            )

        previous: datetime | None = None
        count = 0
        try:
            for cells in reader:
                row = reader.line_num
                if not cells or all(c.strip() == "" for c in cells):
                    continue  # blank line
                if len(cells) != len(header):
                    raise InputError(
                        f"row has {len(cells)} cells, the header has {len(header)}",
                        file=file,
                        row=row,
                    )
                stamp = _parse_time(cells[0], file=file, row=row, column=time_col)
                if previous is not None and stamp <= previous:
                    raise InputError(
                        f"timestamp {stamp.isoformat()} is not after the previous row's "
                        f"{previous.isoformat()}; sort the file by time and drop duplicate rows",
                        file=file,
                        row=row,
                        column=time_col,
                    )
                previous = stamp
                values = {
                    name: _parse_value(cell, file=file, row=row, column=name)
                    for name, cell in zip(columns, cells[1:], strict=True)
                }
                count += 1
                yield Reading(asset_id=asset_id, time=stamp, values=values)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(
                f"not a readable CSV file: {exc}", file=file, row=reader.line_num
            ) from exc
        if count == 0:
            raise InputError("file has a header but no data rows", file=file)


def read_waveform(path: str | Path, *, min_samples: int = MIN_SAMPLES) -> NDArray[np.float64]:
    """Samples of one vibration record: a ``.npy`` array, or text with one or more numbers a line.

    Text may separate numbers by commas and/or whitespace; blank lines and lines starting with
    ``#`` are skipped. Non-numeric and non-finite samples are errors naming the line (the record
    is a measurement to diagnose, not a live stream: a gap would fake spectral content).
    """
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError("waveform file not found; check the path", file=file)
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise InputError(f"not a readable .npy array: {exc}", file=file) from exc
        if not isinstance(arr, np.ndarray):  # an .npz archive behind a .npy name
            raise InputError("not a .npy array (an .npz archive?); save one array", file=file)
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        real = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
        if arr.ndim != 1 or not real:
            raise InputError(
                f"expected a 1-D numeric array, got shape {arr.shape} of {arr.dtype} (real "
                "numbers only: no complex, boolean or text samples)",
                file=file,
            )
        samples = arr.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(samples))
        if bad.size:
            raise InputError(
                f"sample {int(bad[0])} (0-based) is {samples[bad[0]]}; {bad.size} non-finite "
                "sample(s) in all; repair or cut the record",
                file=file,
            )
    else:
        values: list[float] = []
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read waveform file as text: {exc}", file=file) from exc
        for line_no, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            for token in stripped.replace(",", " ").split():
                try:
                    v = float(token)
                except ValueError:
                    raise InputError(
                        f"{token!r} is not a number; one sample per line, or samples separated "
                        "by commas or spaces",
                        file=file,
                        row=line_no,
                    ) from None
                if not math.isfinite(v):
                    raise InputError(
                        f"sample {token!r} is not finite; repair or cut the record",
                        file=file,
                        row=line_no,
                    )
                values.append(v)
        samples = np.asarray(values, dtype=np.float64)
    if samples.size < min_samples:
        raise InputError(
            f"only {samples.size} samples; a diagnosis needs at least {min_samples}", file=file
        )
    return samples


def load_asset_toml(path: str | Path) -> MachineAsset:
    """Read and validate a machine asset file; errors name the file and the field."""
    from pydantic import ValidationError

    from agents.machine import MachineAsset

    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot open asset file: {exc.strerror}", file=file) from exc
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=file) from exc
    except RecursionError:
        # tomllib recurses once per nesting level; thousands of levels are no configuration.
        raise ConfigError(
            "not valid TOML: arrays or tables nested too deeply", file=file
        ) from None
    try:
        return MachineAsset.model_validate(data)
    except InputError as exc:  # our own validators (e.g. SensorSpecError) already say what
        raise ConfigError(str(exc), file=file) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(first["loc"], data)
        got = first.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
        more = f"; and {exc.error_count() - 1} more problem(s)" if exc.error_count() > 1 else ""
        where = f"field {field}: " if first["loc"] else ""
        raise ConfigError(f"{where}{first['msg']}{shown}{more}", file=file) from exc


def _field_path(loc: tuple[int | str, ...], data: object) -> str:
    """``sensors[1](oil_temp).unit`` from pydantic's ``('sensors', 1, 'unit')``: names help."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") or item.get("id") if isinstance(item, dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{part}]" + (f"({name})" if name else "")]
            node = item
        else:
            parts.append(str(part))
            node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


__all__ = ["load_asset_toml", "read_readings_csv", "read_waveform"]
