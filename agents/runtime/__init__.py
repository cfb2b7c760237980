"""The Ray runtime that hosts agents as actors.

``AssetActor`` (plain class) hosts one agent or a shard; ``AgentFleet`` (in ``adapter``, the only
module that calls Ray) creates the actors, routes readings to them and reads their reports. The
adapter is imported lazily: importing this package must not import Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.runtime.actor import (
    AssetActor,
    CheckpointPolicy,
    HostStats,
    PublishPolicy,
    ReportPage,
)
from agents.runtime.checkpoint import CheckpointStore, FileCheckpointStore

if TYPE_CHECKING:
    from agents.runtime.adapter import (
        ActorOptions,
        AgentFleet,
        FleetPage,
        connect_ray,
        disconnect_ray,
    )

_ADAPTER_NAMES = {"ActorOptions", "AgentFleet", "FleetPage", "connect_ray", "disconnect_ray"}

__all__ = [
    "ActorOptions",
    "AgentFleet",
    "AssetActor",
    "CheckpointPolicy",
    "CheckpointStore",
    "FileCheckpointStore",
    "FleetPage",
    "HostStats",
    "PublishPolicy",
    "ReportPage",
    "connect_ray",
    "disconnect_ray",
]


def __getattr__(name: str) -> Any:
    if name in _ADAPTER_NAMES:
        from agents.runtime import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module 'agents.runtime' has no attribute {name!r}")
