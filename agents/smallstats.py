"""numpy's ``std`` and ``median`` of a handful of floats, in plain Python, bit for bit.

A numpy call costs 5-30 us of overhead whatever the size; the sensor checks take a standard
deviation of 8 values and a median of up to 50 intervals for every sensor of every reading. These
replicas add in numpy's pairwise order (``pairwise_sum`` of ``numpy/_core/src/umath``), so the
results, and every threshold compared with them, are exactly those of the numpy calls they replace
(checked against numpy in ``tests/agents/test_smallstats.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Beyond this many values numpy splits the sum recursively; these replicas stop here.
_BLOCK = 128


def pairwise_sum(xs: Sequence[float]) -> float:
    """Sum in numpy's order for up to 128 values (8 running sums, then a tree)."""
    n = len(xs)
    if n == 8:  # the flatline window: the same additions in the same order, unrolled
        return ((xs[0] + xs[1]) + (xs[2] + xs[3])) + ((xs[4] + xs[5]) + (xs[6] + xs[7]))
    if n > _BLOCK:
        raise ValueError(f"pairwise_sum replicates numpy for up to {_BLOCK} values, got {n}")
    if n < 8:
        res = -0.0
        for x in xs:
            res += x
        return res
    r = [xs[0], xs[1], xs[2], xs[3], xs[4], xs[5], xs[6], xs[7]]
    i, stop = 8, n - n % 8
    while i < stop:
        for j in range(8):
            r[j] += xs[i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += xs[i]
        i += 1
    return res


def std(xs: Sequence[float]) -> float:
    """``float(np.std(xs))`` for 1 to 128 values (population standard deviation)."""
    n = len(xs)
    mean = pairwise_sum(xs) / n
    return math.sqrt(pairwise_sum([(x - mean) * (x - mean) for x in xs]) / n)


def std8(
    a: float, b: float, c: float, d: float, e: float, f: float, g: float, h: float
) -> float:
    """``std`` of exactly eight values (the flatline window), without building a list.

    The same operations in the same order as ``std`` on ``[a, ..., h]``, so the same bits.
    """
    m = (((a + b) + (c + d)) + ((e + f) + (g + h))) / 8
    a, b, c, d = a - m, b - m, c - m, d - m
    e, f, g, h = e - m, f - m, g - m, h - m
    return math.sqrt((((a * a + b * b) + (c * c + d * d)) + ((e * e + f * f) + (g * g + h * h))) / 8)


def median(xs: Sequence[float]) -> float:
    """``float(np.median(xs))`` of finite values (NaN is not ordered; numpy would return NaN)."""
    return median_sorted(sorted(xs))


def quantile_sorted(ordered: Sequence[float], q: float) -> float:
    """``float(np.quantile(xs, q))`` (method "linear") of finite values already sorted."""
    n = len(ordered)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return ordered[-1]
    lo = math.floor(virtual)
    t = virtual - lo
    a, b = ordered[lo], ordered[lo + 1]
    d = b - a
    # numpy's _lerp: from the nearer end, so that t = 1 gives b exactly.
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def median_sorted(ordered: Sequence[float]) -> float:
    """``float(np.median(xs))`` of finite values already sorted."""
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


__all__ = ["median", "median_sorted", "pairwise_sum", "quantile_sorted", "std", "std8"]
