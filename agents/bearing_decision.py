"""One bearing condition for one record: healthy, outer race, inner race, ball or cage.

``agents.bearing.diagnose`` lists every kind whose line stands out; a person needs one answer,
how sure it is, and what else it could be. ``decide`` gives that, by this rule:

1. **Speed.** Defect frequencies scale with shaft speed, and a nameplate speed is often a few
   per cent off. When the raw spectrum has a clear 1x line (>= ``SPEED_LINE_RATIO`` = 6 times its
   local median) within +-5 % of the nominal shaft speed, that line (interpolated between bins)
   sets the speed and every defect frequency is scaled with it; otherwise the nominal speed stands.
2. **Evidence per kind**, in bits above the local background of the envelope spectrum: log2 of
   the fundamental's peak-to-background ratio, plus half a bit per doubling above 1.5x for each
   further harmonic and for each modulation sideband the kind should have (inner race: +-1x shaft
   around 1x and 2x BPFI, as the defect turns through the load zone; ball: +-FTF around 2x BSF,
   as the cage carries it; outer race and cage: none, the outer race does not turn). A line that
   sits within 1.5 bins of a shaft harmonic whose neighbouring harmonics ring about as strongly
   counts for nothing: it is a tooth of a shaft comb (unbalance, looseness, a rub), which at that
   resolution cannot be told from a defect line.
3. **Clearly above the background**: the kind passes ``diagnose``'s test (fundamental >= 4x
   background and a second harmonic >= 3x; measured false-call rate ~1 in 3,000 noise windows, see
   ``agents.bearing``) on its non-shaft lines, and ``diagnose`` did not explain its line by
   another defect (a cage comb reaching n x FTF = BPFO, a ball defect's single FTF line).
4. **Clearly above the other kinds**: when another kind passes 3 too, the strongest must beat it
   by ``MARGIN_BITS`` = 1 bit (twice the ratio). A record where two kinds are about as strong is
   called healthy with a note rather than the wrong fault: no single defect stands out. (A kind
   that fails 3 is background, whatever its bits.)

Confidence: a softmax over the five conditions with weight 4 per bit of evidence, healthy being
scored at the detection level (log2 4 + 0.5 = 2.5 bits) and a kind that fails 3 counted at most
one bit below that (so it never outranks health). It orders the candidates and is 0.5 where a
kind sits exactly at the detection level; it is a ranking aid, not a calibrated probability.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict

from agents.bearing import (
    _SEARCH,
    DEFAULT_RATIO_THRESHOLD,
    DEFAULT_SLIP_TOLERANCE,
    SUPPORT_FRACTION,
    BearingFaultKind,
    DefectFrequencies,
    _line,
    diagnose,
)
from agents.errors import InputError
from agents.signal import envelope_spectrum

SPEED_LINE_RATIO = 6.0
SPEED_SEARCH = 0.05
MARGIN_BITS = 1.0
_WEIGHT = math.log(4.0)  # softmax weight per bit of evidence


class Condition(StrEnum):
    HEALTHY = "healthy"
    OUTER_RACE = "outer_race"
    INNER_RACE = "inner_race"
    BALL = "ball"
    CAGE = "cage"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Frozen):
    condition: Condition
    confidence: float
    evidence_bits: float
    detected: bool
    fundamental_ratio: float
    harmonic_ratios: tuple[float, ...]
    sideband_ratios: tuple[float, ...] = ()


class BearingDecision(_Frozen):
    """The single most likely condition, its confidence and the ranked alternatives."""

    condition: Condition
    confidence: float
    alternatives: tuple[Candidate, ...]  # every other condition, most likely first
    candidates: tuple[Candidate, ...]  # all five, most likely first
    shaft_hz: float
    speed_source: str
    note: str = ""


def shaft_from_frequencies(freqs: DefectFrequencies) -> float:
    """Shaft speed implied by the kinematic table: BPFO + BPFI = n f_s and BPFO = n FTF."""
    return (freqs.bpfo + freqs.bpfi) * freqs.ftf / freqs.bpfo


def _measured_speed(x: NDArray[np.float64], fs: float, nominal: float) -> float | None:
    """Shaft speed from a clear 1x line in the raw spectrum near ``nominal``, else ``None``."""
    n = x.size
    if not 0 < nominal * (1 + SPEED_SEARCH) < fs / 2:
        return None  # the 1x line cannot be in this record's spectrum (also guards absurd speeds)
    amp = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(n)))
    df = fs / n
    lo, hi = (
        int(nominal * (1 - SPEED_SEARCH) / df),
        int(math.ceil(nominal * (1 + SPEED_SEARCH) / df)),
    )
    if lo < 2 or hi + 2 >= amp.size:
        return None
    k = lo + int(np.argmax(amp[lo : hi + 1]))
    around = np.concatenate([amp[max(k - 20, 1) : k - 2], amp[k + 3 : k + 21]])
    if around.size < 5 or amp[k] < SPEED_LINE_RATIO * float(np.median(around)):
        return None
    a, b, c = np.log(amp[k - 1 : k + 2] + 1e-30)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
    return float((k + shift) * df)


def _on_shaft_comb(
    f: NDArray[np.float64], amp: NDArray[np.float64], line: tuple[float, float, float], shaft: float
) -> bool:
    """Whether a line is one tooth of a comb of shaft harmonics (looseness, rub, unbalance).

    The line must sit within 1.5 bins of a shaft order j, and the orders j-1 and j+1 must carry
    lines at least half as strong above their own background: a real defect line that happens
    to fall on a shaft order has no such neighbours.
    """
    df = float(f[1] - f[0])
    j = round(line[0] / shaft)
    if j < 1 or abs(line[0] - j * shaft) > 1.5 * df:
        return False
    ratio = line[1] / line[2] if line[2] > 0 else 0.0
    for m in (j - 1, j + 1):
        if m < 1:
            continue
        hit = _line(f, amp, m * shaft, 0.0, df)
        if hit is None or hit[2] <= 0 or hit[1] / hit[2] < 0.5 * ratio:
            return False
    return True


def _ratio(
    f: NDArray[np.float64], amp: NDArray[np.float64], target: float, df: float, shaft: float
) -> float:
    usable = f[-1]
    if target < 4 * df or target * (1 + DEFAULT_SLIP_TOLERANCE) >= usable:
        return 0.0
    hit = _line(f, amp, target, DEFAULT_SLIP_TOLERANCE, df)
    if hit is None or hit[2] <= 0 or _on_shaft_comb(f, amp, hit, shaft):
        return 0.0
    return hit[1] / hit[2]


def _bits(r: float, above: float = 1.5) -> float:
    return max(0.0, math.log2(r / above)) if r > 0 else 0.0


def decide(
    x: ArrayLike,
    fs: float,
    freqs: DefectFrequencies,
    *,
    shaft_hz: float | None = None,
    band: tuple[float, float] | None = None,
    ratio_threshold: float = DEFAULT_RATIO_THRESHOLD,
) -> BearingDecision:
    """Decide the record's condition by the rule in the module docstring."""
    arr = np.asarray(x, dtype=np.float64)
    nominal = shaft_hz if shaft_hz is not None else shaft_from_frequencies(freqs)
    if not (math.isfinite(nominal) and 0 < nominal < fs):
        raise InputError(
            f"the defect frequencies imply a shaft speed of {nominal:g} Hz, which a record "
            f"sampled at {fs:g} Hz cannot show; check the frequencies (Hz) and --fs"
        )
    measured = _measured_speed(arr, fs, nominal)
    shaft, source = (measured, "measured 1x line") if measured else (nominal, "nominal")
    scale = shaft / nominal
    f, amp = envelope_spectrum(arr, fs, band)
    df = float(f[1] - f[0])
    scaled = DefectFrequencies(
        bpfo=freqs.bpfo * scale,
        bpfi=freqs.bpfi * scale,
        bsf=freqs.bsf * scale,
        ftf=freqs.ftf * scale,
    )
    # diagnose's attributions (a cage comb reaching BPFO, a ball defect's FTF line) stand.
    explained = {
        e.kind
        for e in diagnose(arr, fs, scaled, band=band, ratio_threshold=ratio_threshold).evidence
        if e.note.startswith(("line explained", "FTF line explained"))
    }
    cands: list[Candidate] = []
    for kind, (attr, multiples, fundamentals) in _SEARCH.items():
        base = float(getattr(freqs, attr)) * scale
        ratios = [_ratio(f, amp, m * base, df, shaft) for m in multiples]
        fund_i = max((multiples.index(m) for m in fundamentals), key=lambda i: ratios[i])
        r_f = ratios[fund_i]
        support = sum(1 for r in ratios if r >= SUPPORT_FRACTION * ratio_threshold)
        if kind is BearingFaultKind.INNER_RACE:
            sidebands = [
                _ratio(f, amp, m * base + s * shaft, df, shaft) for m in (1, 2) for s in (-1, 1)
            ]
        elif kind is BearingFaultKind.BALL:
            ftf = freqs.ftf * scale
            sidebands = [_ratio(f, amp, 2 * base + s * ftf, df, shaft) for s in (-1, 1)]
        else:
            sidebands = []
        bits = (
            (math.log2(r_f) if r_f > 0 else 0.0)
            + 0.5 * sum(_bits(r) for i, r in enumerate(ratios) if i != fund_i)
            + 0.5 * sum(_bits(r) for r in sidebands)
        )
        cands.append(
            Candidate(
                condition=Condition(kind.value),
                confidence=0.0,
                evidence_bits=round(bits, 3),
                detected=r_f >= ratio_threshold and support >= 2 and kind not in explained,
                fundamental_ratio=round(r_f, 3),
                harmonic_ratios=tuple(round(r, 3) for r in ratios),
                sideband_ratios=tuple(round(r, 3) for r in sidebands),
            )
        )
    # A kind at the bare detection level (fundamental at the threshold, a harmonic at 3/4 of it)
    # scores log2(threshold) + 0.5 bits: there it is as likely as health.
    healthy_bits = math.log2(ratio_threshold) + 0.5
    cands.append(
        Candidate(
            condition=Condition.HEALTHY,
            confidence=0.0,
            evidence_bits=round(healthy_bits, 3),
            detected=True,
            fundamental_ratio=0.0,
            harmonic_ratios=(),
        )
    )
    # A kind that fails the background test cannot be likelier than health: its bits count at
    # most one margin below the healthy score.
    scored = [
        c.evidence_bits if c.detected else min(c.evidence_bits, healthy_bits - MARGIN_BITS)
        for c in cands
    ]
    weights = np.exp(_WEIGHT * np.array(scored))
    probs = weights / weights.sum()
    ranked = sorted(
        (
            c.model_copy(update={"confidence": round(float(p), 4)})
            for c, p in zip(cands, probs, strict=True)
        ),
        key=lambda c: -c.confidence,
    )
    faults = sorted(
        (c for c in ranked if c.condition is not Condition.HEALTHY), key=lambda c: -c.evidence_bits
    )
    top = faults[0]
    # Kinds that are not clearly above the background are background: only another kind that
    # passes the test too can make the record ambiguous.
    runner_up = next((c for c in faults[1:] if c.detected), None)
    chosen, note = Condition.HEALTHY, ""
    if top.detected:
        if runner_up is None or top.evidence_bits - runner_up.evidence_bits >= MARGIN_BITS:
            chosen = top.condition
        else:
            note = (
                f"{top.condition.value} and {runner_up.condition.value} evidence within "
                f"{MARGIN_BITS:g} bit of each other: no single defect stands out"
            )
    winner = next(c for c in ranked if c.condition is chosen)
    return BearingDecision(
        condition=chosen,
        confidence=winner.confidence,
        alternatives=tuple(c for c in ranked if c.condition is not chosen),
        candidates=(winner, *(c for c in ranked if c.condition is not chosen)),
        shaft_hz=round(shaft, 4),
        speed_source=source,
        note=note,
    )


__all__ = ["BearingDecision", "Candidate", "Condition", "decide", "shaft_from_frequencies"]
