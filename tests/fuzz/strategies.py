"""Strategies shared by the fuzz tests: text cells, TOML documents, mutated tables."""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any

from hypothesis import strategies as st

# Text without lone surrogates (a file cannot hold them as UTF-8).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)

NUMBER_TEXT = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "1e309", "0x10", "1_000", "", " "]),
)

SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)

VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest raw."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    """A TOML literal for a JSON-like value (``None`` has no TOML form: written as a string)."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, datetime | date | time):
        return value.isoformat()  # TOML local date / time / date-time literals
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items())
            + "}"
        )
    raise TypeError(type(value))


def toml_document(data: dict[str, Any]) -> str:
    """A TOML document: one ``key = value`` line per top-level key (tables inline)."""
    return "".join(f"{toml_string(str(k))} = {toml_value(v)}\n" for k, v in data.items())


@st.composite
def mutated(draw: st.DrawFn, base: Any, depth: int = 0) -> Any:
    """``base`` with a few of its leaves / keys replaced, removed or added: near-valid input."""
    if isinstance(base, dict) and depth < 4:
        out = dict(base)
        for key in list(out):
            choice = draw(st.integers(0, 9))
            if choice == 0:
                del out[key]
            elif choice == 1:
                out[key] = draw(VALUE)
            elif choice <= 3:
                out[key] = draw(mutated(out[key], depth + 1))
        if draw(st.integers(0, 9)) == 0:
            out[draw(TEXT)] = draw(VALUE)
        return out
    if isinstance(base, list) and depth < 4:
        items = [draw(mutated(v, depth + 1)) if draw(st.booleans()) else v for v in base]
        if items and draw(st.integers(0, 7)) == 0:
            items.pop(draw(st.integers(0, len(items) - 1)))
        return items
    return draw(VALUE) if draw(st.integers(0, 2)) == 0 else base


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


@st.composite
def tweaked(draw: st.DrawFn, base: Any, max_edits: int = 3) -> Any:
    """``base`` with one to ``max_edits`` edits anywhere in it: a value replaced (by any value, or
    a neighbour of the same type), a key or item removed, or an unknown key added."""
    doc = _copy(base)
    for _ in range(draw(st.integers(1, max_edits))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        old = parent[key]
        op = draw(st.sampled_from(["replace", "replace", "same-type", "delete", "add"]))
        if op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(TEXT)] = draw(VALUE)
        elif op == "same-type" and isinstance(old, bool):
            parent[key] = not old
        elif op == "same-type" and isinstance(old, int | float):
            parent[key] = draw(
                st.sampled_from(
                    [0, -1, -old, old * 1000, 1e308, -1e308, float("nan"), float("inf")]
                )
            )
        elif op == "same-type" and isinstance(old, str):
            parent[key] = draw(
                st.sampled_from(["", old + "x", old.upper(), "mill-1", "line-a", "a" * 300])
            )
        else:
            parent[key] = draw(VALUE)
    return doc
