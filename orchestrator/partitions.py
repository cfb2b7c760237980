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


class Partition:
    """One partition of a plant's assets, and where its own progress lives."""

    def __init__(self, index: int, count: int) -> None:
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"partition {index} of {count}: the index must be in 0..{count - 1}")
        self.index = index
        self.count = count

    def owns(self, asset_id: str) -> bool:
        return self.count == 1 or partition_of(asset_id, self.count) == self.index

    @property
    def suffix(self) -> str:
        """File-name part of this partition's own state ('' for an unpartitioned plant, so a
        single loop keeps the files it always had)."""
        return "" if self.count == 1 else f".p{self.index}-of-{self.count}"

    @property
    def key(self) -> str:
        """The partition's name in the shared state (its saved progress): 'default' for an
        unpartitioned plant, else ``p<index>-of-<count>``."""
        return "default" if self.count == 1 else f"p{self.index}-of-{self.count}"

    def __repr__(self) -> str:
        return f"Partition({self.index}, {self.count})"
