"""What the policies see of the plant beside the reports: machines, queues, stock, planned windows."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from agents.models import AssetKind
from orchestrator.collaborators import Mes
from orchestrator.config import PlantConfig
from orchestrator.progress import History
from policies.base import CatalogItem, MachineInfo, PlannedWindow, PolicyContext

log = logging.getLogger(__name__)


class PlantContext:
    """Builds each tick's ``PolicyContext``; MES answers are cached (windows a week ahead, refreshed
    once a day; queue lengths once per machine)."""

    def __init__(
        self,
        config: PlantConfig,
        *,
        history: History,
        catalog: dict[str, CatalogItem],
        expected: dict[str, AssetKind],
        open_keys: Callable[[], frozenset[str]],
        mes: Mes | None = None,
    ) -> None:
        self.config = config
        self.history = history
        self.catalog = catalog
        self.expected = expected
        self.open_keys = open_keys
        self.mes = mes
        self._windows: tuple[PlannedWindow, ...] = ()
        self._windows_until: datetime | None = None
        self._queued: dict[str, int] = {}
        # Made with the loop, from the plant file alone: not in the first tick (10,000 machines:
        # half a second).
        self._machines: dict[str, MachineInfo] = _machine_infos(config.machines)

    async def planned_windows(self, now: datetime) -> tuple[PlannedWindow, ...]:
        """Planned stops from the MES, fetched a week ahead and refreshed once a day."""
        if self.mes is None:
            return ()
        if self._windows_until is None or now + timedelta(days=6) > self._windows_until:
            from workflows.integrations.models import WindowKind

            until = now + timedelta(days=7)
            try:
                windows = (await self.mes.get_schedule(now, until)).windows
            except Exception as exc:  # noqa: BLE001  the MES down must not stop the loop
                log.warning("MES schedule unavailable (%s); keeping the last one", exc)
                return self._windows
            self._windows = tuple(
                PlannedWindow(start=w.start, end=w.end, asset_id=w.asset_id, label=w.label)
                for w in windows
                if w.kind in (WindowKind.BREAK, WindowKind.MAINTENANCE)
            )
            self._windows_until = until
        return tuple(w for w in self._windows if w.end > now)

    async def queued_jobs(self, asset_id: str) -> int:
        if self.mes is None:
            return 0
        if asset_id not in self._queued:
            try:
                self._queued[asset_id] = len(await self.mes.list_queued_jobs(asset_id))
            except Exception as exc:  # noqa: BLE001  an unknown machine counts as no queue
                log.warning("MES queue of %s unavailable (%s); counted as empty", asset_id, exc)
                self._queued[asset_id] = 0
        return self._queued[asset_id]

    async def machines(self) -> dict[str, MachineInfo]:
        # Kept between ticks (the plant's machines are fixed for a run): an entry is rebuilt
        # only when its queue changed. Rebuilt each tick, with every pair of machines compared
        # for alternatives, this was a quarter of the loop at 1,000 machines (issue 16).
        machines: dict[str, MachineInfo] = {}
        for asset_id, info in self._machines.items():
            queued = await self.queued_jobs(asset_id)
            if info.queued_jobs != queued:
                info = self._machines[asset_id] = info.model_copy(update={"queued_jobs": queued})
            machines[asset_id] = info
        return machines

    def stock(self) -> dict[str, float]:
        stock: dict[str, float] = {}
        for asset, report in self.history.latest().items():
            if report.asset_kind is AssetKind.INVENTORY:
                on_hand = report.indicator("stock")
                if on_hand is not None and on_hand.value is not None:
                    stock[asset] = on_hand.value
        return stock

    async def at(self, now: datetime) -> PolicyContext:
        machines = await self.machines()
        stock = self.stock()
        # Its parts are validated where they are made (10,000 machines and expected assets
        # re-validated every tick cost more than the policies' own work): not again here.
        return PolicyContext.model_construct(
            now=now,
            site=self.config.site,
            planned_windows=await self.planned_windows(now),
            stock=stock,
            catalog=self.catalog,
            machines=machines,
            open_keys=self.open_keys(),
            expected_assets=self.expected,
        )


class _Alternatives(Sequence[str]):
    """The other machines sharing a capability with one machine, without copying them.

    Every machine of a capability group lists all the others: built as tuples that is
    n x (n - 1) ids (10^8 references at 10,000 identical mills, most of the first tick and of
    every full garbage collection after it, issue 16). This view holds the group's shared,
    sorted tuple of ids and the one id to leave out; it reads like the tuple it stands for
    (iteration, ``len``, indexing, truthiness, equality with tuples)."""

    __slots__ = ("_group", "_len", "_own")

    def __init__(self, group: tuple[str, ...], own: str) -> None:
        self._group = group
        self._own = own
        self._len = len(group) - (own in group)

    def _items(self) -> tuple[str, ...]:
        return tuple(a for a in self._group if a != self._own)

    def __iter__(self) -> Iterator[str]:
        return (a for a in self._group if a != self._own)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: Any) -> Any:
        return self._items()[index]

    def __contains__(self, value: object) -> bool:
        return value != self._own and value in self._group

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Alternatives | tuple | list):
            return self._items() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items())

    def __repr__(self) -> str:
        # Short: a context's repr (asyncio, logs) would otherwise list n x (n - 1) ids again.
        if len(self._group) <= 6:
            return repr(self._items())
        head = ", ".join(repr(a) for a in islice(self, 3))
        return f"({head}, ... {len(self)} machines)"


def _machine_infos(tables: Sequence[Mapping[str, Any]]) -> dict[str, MachineInfo]:
    """What policies know of each machine, queues empty; alternatives share a capability.

    Built valid by construction (ids and capabilities come from the validated plant config):
    ``model_construct`` keeps the alternatives a shared view (``_Alternatives``), not a copy."""
    by_caps: dict[frozenset[str], tuple[str, ...]] = {}
    by_cap: dict[str, set[int]] = {}
    for i, table in enumerate(tables):
        for cap in set(table.get("capabilities", ())):
            by_cap.setdefault(cap, set()).add(i)
    out: dict[str, MachineInfo] = {}
    for table in tables:
        caps = tuple(table.get("capabilities", ()))
        key = frozenset(caps)
        if key not in by_caps:  # one union per distinct capability set, in the plant's order
            near = sorted(set().union(*(by_cap[c] for c in key)))
            by_caps[key] = tuple(tables[j]["id"] for j in near)
        asset_id = table["id"]
        out[asset_id] = MachineInfo.model_construct(
            asset_id=asset_id,
            bottleneck=bool(table.get("bottleneck", False)),
            queued_jobs=0,
            capabilities=caps,
            alternatives=_Alternatives(by_caps[key], asset_id),
            line=table.get("line") or "",
        )
    return out
