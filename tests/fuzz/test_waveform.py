"""Fuzz: waveform files and ``autoops diagnose`` over them.

Any file (text, ``.npy``, bytes) is read into samples or refused with an ``InputError`` naming
the file; any readable record with any sampling rate and bearing frequencies is diagnosed or
refused with one clear line (exit 2), never a traceback.
"""

from __future__ import annotations

import atexit
import io
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agents.errors import InputError
from agents.replay import read_waveform
from orchestrator.cli import main
from tests.fuzz.strategies import NUMBER_TEXT, TEXT

pytestmark = pytest.mark.fuzz

_TMP = Path(tempfile.mkdtemp(prefix="autoops-fuzz-wave-"))
atexit.register(shutil.rmtree, _TMP, True)

SEP = st.sampled_from([",", " ", ", ", "\t", ",,", "\n"])


@st.composite
def text_record(draw: st.DrawFn) -> str:
    # A few drawn cells inside a plain numeric record of a drawn length (drawing every one of a
    # thousand samples would make Hypothesis, not the reader, the cost of the test).
    cells = draw(st.lists(st.one_of(NUMBER_TEXT, TEXT), max_size=6))
    body = "".join(c + draw(SEP) for c in cells)
    pad = draw(st.sampled_from([0, 10, 60, 64, 1100]))
    plain = "".join(f"{(i % 7) - 3.0}\n" for i in range(pad))
    head = draw(st.sampled_from(["", "# header\n", "\ufeff"]))
    return head + (plain + body if draw(st.booleans()) else body + plain)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


NPY = st.one_of(
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.int16, np.complex64, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=1100).filter(
            lambda s: int(np.prod(s)) <= 5000
        ),
    ).map(_npy),
    st.just(_npy(np.array(["a", "b"], dtype=object))),  # a pickled object array: refused
    st.binary(max_size=200).map(lambda b: b"\x93NUMPY" + b),
)


def _read(path: Path) -> None:
    try:
        samples = read_waveform(path)
    except InputError as exc:
        assert exc.file == str(path) and str(exc).startswith(f"file {path}")
        return
    assert samples.ndim == 1 and np.isfinite(samples).all()


@settings(max_examples=1200)
@given(text=text_record())
def test_text_records(text: str, count) -> None:
    count()
    path = _TMP / "record.txt"
    path.write_text(text, encoding="utf-8")
    _read(path)


@settings(max_examples=500)
@given(
    raw=st.one_of(NPY, st.binary(max_size=300)), suffix=st.sampled_from([".npy", ".txt", ".csv"])
)
def test_npy_and_raw_bytes(raw: bytes, suffix: str, count) -> None:
    count()
    path = _TMP / f"record{suffix}"
    path.write_bytes(raw)
    _read(path)


HZ = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0.1, 20_000),
)


@settings(max_examples=300)
@given(
    fs=HZ,
    freqs=st.lists(HZ, min_size=4, max_size=4),
    band=st.none() | st.tuples(HZ, HZ),
    kind=st.sampled_from(["noise", "zeros", "huge"]),
)
def test_diagnose_command_never_a_traceback(
    fs: float, freqs: list[float], band, kind: str, count, capsys, monkeypatch
) -> None:
    count()
    path = _TMP / f"{kind}.txt"
    if not path.exists():
        rng = np.random.default_rng(0)
        samples = {
            "noise": rng.normal(size=2048),
            "zeros": np.zeros(2048),
            "huge": np.full(2048, 1e300),
        }[kind]
        path.write_text("\n".join(repr(float(v)) for v in samples))
    args = ["diagnose", "--waveform", str(path), "--fs", repr(fs), "--json"]
    for flag, value in zip(("--bpfo", "--bpfi", "--bsf", "--ftf"), freqs, strict=True):
        args += [flag, repr(value)]
    if band is not None:
        args += ["--band-low", repr(band[0]), "--band-high", repr(band[1])]
    monkeypatch.setattr(sys, "argv", ["autoops", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        assert out.startswith("{")
    else:
        assert code == 2 and err.startswith("error: "), (code, err)
