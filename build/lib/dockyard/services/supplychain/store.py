"""What the supply-chain services need from the metadata database."""

from __future__ import annotations

from typing import Protocol

from dockyard.persistence.sql.supplychain import StoredLayer

__all__ = ["StoredLayer", "SupplyChainStore"]


class SupplyChainStore(Protocol):
    async def layer(self, digest: str) -> StoredLayer | None: ...
    async def save_layer(self, digest: str, layer: StoredLayer) -> None: ...
    async def sbom_on_push(self, project: str) -> bool | None: ...
    async def set_sbom_on_push(self, project: str, enabled: bool) -> bool: ...
