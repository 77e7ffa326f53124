"""Layer inventories (one row per layer digest) and the project's "SBOM on push" switch."""

from __future__ import annotations

import time
from dataclasses import dataclass

from dockyard.persistence.sql.session import Database

_GET = """
SELECT indexer_version, outcome, detail, document FROM layer_inventories WHERE blob_digest = ?
"""
_SAVE = """
INSERT INTO layer_inventories(blob_digest, indexer_version, outcome, detail, document, indexed_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (blob_digest) DO UPDATE SET indexer_version = excluded.indexer_version,
    outcome = excluded.outcome, detail = excluded.detail, document = excluded.document,
    indexed_at = excluded.indexed_at
"""
_SBOM_ON_PUSH = "SELECT sbom_on_push FROM projects WHERE name = ?"
_SET_SBOM_ON_PUSH = "UPDATE projects SET sbom_on_push = ?, updated_at = ? WHERE name = ?"


@dataclass(frozen=True, slots=True)
class StoredLayer:
    indexer_version: int
    outcome: str  # indexed | refused
    detail: str
    document: str


class SqlSupplyChain:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def layer(self, digest: str) -> StoredLayer | None:
        row = await self.db.fetchone(_GET, (digest,))
        if row is None:
            return None
        return StoredLayer(int(row[0]), str(row[1]), str(row[2]), str(row[3]))

    async def save_layer(self, digest: str, layer: StoredLayer) -> None:
        params = (digest, layer.indexer_version, layer.outcome, layer.detail, layer.document)
        await self.db.execute(_SAVE, (*params, time.time()))

    async def sbom_on_push(self, project: str) -> bool | None:
        """The project's switch; None when there is no such project."""
        row = await self.db.fetchone(_SBOM_ON_PUSH, (project,))
        return None if row is None else bool(row[0])

    async def set_sbom_on_push(self, project: str, enabled: bool) -> bool:
        """False when there is no such project."""
        changed = await self.db.execute(_SET_SBOM_ON_PUSH, (int(enabled), time.time(), project))
        return changed > 0
