"""The plant's assets as the other layers need them: agent specs, stock items, the catalogue."""

from __future__ import annotations

from agents.inventory_config import InventoryItem
from agents.models import AssetKind
from agents.registry import AgentSpec, spec_from_table
from orchestrator.config import PlantConfig
from policies.base import CatalogItem


def asset_specs(config: PlantConfig, source: str = "plant configuration") -> list[AgentSpec]:
    """Every asset of the plant as an agent spec (machines, stock items, energy systems)."""
    specs: list[AgentSpec] = []
    for kind, tables, name in (
        (AssetKind.MACHINE, config.machines, "machines"),
        (AssetKind.INVENTORY, config.inventory, "inventory"),
        (AssetKind.ENERGY, config.energy, "energy"),
    ):
        for index, table in enumerate(tables):
            specs.append(spec_from_table(kind, table, where=f"{name}[{index}]", source=source))
    return specs


def inventory_items(config: PlantConfig) -> dict[str, InventoryItem]:
    return {t["sku"]: InventoryItem.model_validate(t) for t in config.inventory}


def catalog(config: PlantConfig) -> dict[str, CatalogItem]:
    return {
        sku: CatalogItem(
            sku=sku,
            supplier=item.supplier or "default-supplier",
            unit_price=item.unit_price,
            lead_time_days=item.lead_time_h / 24.0,
            order_cost=item.order_cost,
            min_order_qty=max(1, int(item.min_order_qty)),
            description=item.description,
        )
        for sku, item in inventory_items(config).items()
    }
