"""Which loop partition an asset belongs to: a stable hash of its id, modulo ``[loop] partitions``.

Stable means the same on every process, machine and Python version (``hash()`` is salted per
process, so it is not used): the first eight bytes of the asset id's SHA-256, as an unsigned
integer. Changing the number of partitions moves assets between partitions; do it with every
loop process stopped (each partition's saved progress covers the assets it had).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def partition_of(asset_id: str, partitions: int) -> int:
    """The partition (0 .. partitions-1) that runs ``asset_id``."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    digest = hashlib.sha256(asset_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % partitions


def split(asset_ids: Iterable[str], partitions: int) -> dict[int, list[str]]:
    """Every partition (also an empty one) and its asset ids, in the order given."""
    out: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for asset in asset_ids:
        out[partition_of(asset, partitions)].append(asset)
    return out
