"""Readers for fleet run-to-failure histories: NASA C-MAPSS text files and plain CSV.

Both formats become one ``FleetHistory``: a row per (unit, cycle) with numeric columns. Every
problem is reported as an ``InputError`` naming the file, the 1-based line and the column, because
these files come from outside and a person has to fix them.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from agents.errors import InputError


class HistoryFormat(StrEnum):
    CMAPSS = "cmapss"
    CSV = "csv"


#: Column names of a C-MAPSS file after ``unit`` and ``cycle`` (NASA's readme.txt order).
CMAPSS_COLUMNS: tuple[str, ...] = tuple(
    [f"setting_{i}" for i in range(1, 4)] + [f"sensor_{i}" for i in range(1, 22)]
)


@dataclass(frozen=True, slots=True)
class FleetHistory:
    """Histories of many units of one type, rows grouped by unit and ordered by cycle.

    ``values`` has one column per name in ``columns``; ``settings`` names the columns that describe
    the operating condition (used to find operating regimes), a subset of ``columns``.
    """

    source: str
    units: np.ndarray  # str unit id per row
    cycles: np.ndarray  # float cycle per row, strictly increasing within a unit
    values: np.ndarray  # float (rows x columns)
    columns: tuple[str, ...]
    settings: tuple[str, ...] = ()

    @property
    def unit_ids(self) -> list[str]:
        """Unit ids in order of first appearance."""
        _, first = np.unique(self.units, return_index=True)
        return [str(self.units[i]) for i in sorted(first)]

    def unit_slices(self) -> list[tuple[str, slice]]:
        """(unit id, row slice) per unit; rows of a unit are contiguous after reading."""
        out: list[tuple[str, slice]] = []
        start = 0
        n = len(self.units)
        for i in range(1, n + 1):
            if i == n or self.units[i] != self.units[start]:
                out.append((str(self.units[start]), slice(start, i)))
                start = i
        return out

    def rul(self) -> np.ndarray:
        """True RUL per row for run-to-failure data: last cycle of the unit minus this cycle."""
        out = np.empty(len(self.cycles))
        for _, sl in self.unit_slices():
            out[sl] = self.cycles[sl][-1] - self.cycles[sl]
        return out

    def select_units(self, unit_ids: list[str] | set[str]) -> FleetHistory:
        keep = np.isin(self.units, list(unit_ids))
        return self.take(np.flatnonzero(keep))

    def take(self, rows: np.ndarray) -> FleetHistory:
        return FleetHistory(
            source=self.source,
            units=self.units[rows],
            cycles=self.cycles[rows],
            values=self.values[rows],
            columns=self.columns,
            settings=self.settings,
        )

    def truncate(self, keep_cycles: dict[str, int]) -> FleetHistory:
        """Keep the first ``keep_cycles[unit]`` rows of each listed unit (others are dropped)."""
        rows: list[np.ndarray] = []
        for unit, sl in self.unit_slices():
            if unit in keep_cycles:
                idx = np.arange(sl.start, sl.stop)
                rows.append(idx[: max(1, keep_cycles[unit])])
        return self.take(np.concatenate(rows) if rows else np.array([], dtype=int))


def _not_utf8(path: str | Path, exc: UnicodeDecodeError) -> InputError:
    """The error for a history that is not UTF-8 text, naming the line of the first bad byte."""
    try:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
    except OSError:
        line = None
    return InputError(
        f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); a history "
        "is a text file: save it as UTF-8",
        file=str(path),
        row=line,
    )


def _number(cell: str, *, file: str, row: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise InputError(
            f"{cell!r} is not a number; fix or remove the row", file=file, row=row, column=column
        ) from None
    if not math.isfinite(value):
        raise InputError(
            f"{cell!r} is not a finite number (NaN / inf); fix or remove the row",
            file=file,
            row=row,
            column=column,
        )
    return value


def _finish(
    source: str,
    units: list[str],
    cycles: list[float],
    values: list[list[float]],
    lines: list[int],
    columns: tuple[str, ...],
    settings: tuple[str, ...],
) -> FleetHistory:
    if not units:
        raise InputError(
            "no data rows; a history needs at least one unit with one cycle", file=source
        )
    last: dict[str, tuple[float, int]] = {}
    for unit, cycle, line in zip(units, cycles, lines, strict=True):
        prev = last.get(unit)
        if prev is not None and cycle <= prev[0]:
            raise InputError(
                f"cycle {cycle:g} of unit {unit!r} does not increase after cycle {prev[0]:g} "
                f"(line {prev[1]}); sort each unit's rows by cycle and remove duplicates",
                file=source,
                row=line,
                column="cycle",
            )
        last[unit] = (cycle, line)
    unit_arr = np.array(units, dtype=object)
    # Group rows by unit (stable, first appearance order) so each unit is one contiguous block.
    order_of_unit = {u: i for i, u in enumerate(dict.fromkeys(units))}
    order = np.argsort(np.array([order_of_unit[u] for u in units]), kind="stable")
    return FleetHistory(
        source=source,
        units=unit_arr[order],
        cycles=np.asarray(cycles, dtype=float)[order],
        values=np.asarray(values, dtype=float).reshape(len(units), len(columns))[order],
        columns=columns,
        settings=settings,
    )


def read_cmapss(path: str | Path) -> FleetHistory:
    """Read a C-MAPSS file: 26 whitespace-separated numbers per line (unit, cycle, 3 settings, 21 sensors)."""
    source = str(path)
    names = ("unit", "cycle", *CMAPSS_COLUMNS)
    units: list[str] = []
    cycles: list[float] = []
    values: list[list[float]] = []
    lines: list[int] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the history file: {exc.strerror}", file=source) from None
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        cells = line.split()
        if not cells:
            continue  # blank lines (e.g. at the end of the file) carry nothing
        if len(cells) != len(names):
            raise InputError(
                f"expected {len(names)} whitespace-separated columns (unit, cycle, 3 settings, "
                f"21 sensors), found {len(cells)}",
                file=source,
                row=line_no,
                column=names[min(len(cells), len(names) - 1)],
            )
        nums = [
            _number(c, file=source, row=line_no, column=n)
            for c, n in zip(cells, names, strict=True)
        ]
        if nums[0] != int(nums[0]):
            raise InputError(
                f"unit {cells[0]!r} is not an integer id", file=source, row=line_no, column="unit"
            )
        units.append(str(int(nums[0])))
        cycles.append(nums[1])
        values.append(nums[2:])
        lines.append(line_no)
    settings = tuple(c for c in CMAPSS_COLUMNS if c.startswith("setting"))
    return _finish(source, units, cycles, values, lines, CMAPSS_COLUMNS, settings)


def read_csv(path: str | Path) -> FleetHistory:
    """Read a CSV with a header: ``unit``, ``cycle``, then numeric feature columns.

    Columns whose name starts with ``setting`` or ``op_setting`` describe the operating condition.
    Unit ids may be any non-empty text.
    """
    source = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"cannot read the history file: {exc.strerror}", file=source) from None
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file: {exc}", file=source) from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError(
            "empty file; expected a header 'unit,cycle,<features...>'", file=source, row=1
        )
    header = [c.strip() for c in rows[0]]
    if len(header) < 3 or header[0].lower() != "unit" or header[1].lower() != "cycle":
        raise InputError(
            f"header must start with 'unit,cycle' followed by at least one feature column, got {header[:3]}",
            file=source,
            row=1,
        )
    columns = tuple(header[2:])
    dup = {c for c in columns if columns.count(c) > 1 or not c}
    if dup:
        raise InputError(
            f"feature column names must be unique and non-empty: {sorted(dup)}", file=source, row=1
        )
    units: list[str] = []
    cycles: list[float] = []
    values: list[list[float]] = []
    lines: list[int] = []
    for line_no, cells in enumerate(rows[1:], start=2):
        if not cells or not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise InputError(
                f"expected {len(header)} comma-separated columns as in the header, found {len(cells)}",
                file=source,
                row=line_no,
                column=header[min(len(cells), len(header) - 1)],
            )
        unit = cells[0].strip()
        if not unit:
            raise InputError("empty unit id", file=source, row=line_no, column="unit")
        cycle = _number(cells[1].strip(), file=source, row=line_no, column="cycle")
        nums = [
            _number(c.strip(), file=source, row=line_no, column=n)
            for c, n in zip(cells[2:], columns, strict=True)
        ]
        units.append(unit)
        cycles.append(cycle)
        values.append(nums)
        lines.append(line_no)
    settings = tuple(c for c in columns if c.lower().startswith(("setting", "op_setting")))
    return _finish(source, units, cycles, values, lines, columns, settings)


def read_history(path: str | Path, fmt: HistoryFormat | str) -> FleetHistory:
    """Read a fleet history in the given format (``cmapss`` or ``csv``)."""
    try:
        kind = HistoryFormat(fmt)
    except ValueError:
        raise InputError(
            f"unknown history format {fmt!r}; use one of {[f.value for f in HistoryFormat]}"
        ) from None
    return read_cmapss(path) if kind is HistoryFormat.CMAPSS else read_csv(path)
