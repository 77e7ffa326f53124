"""Migration: what each layer installs, indexed once per blob digest (``layer_inventories``),
and the per-project "SBOM on push" switch (``projects.sbom_on_push``, on by default).

``document`` is the layer's inventory as JSON (``core.supplychain.model.LayerInventory``);
``outcome`` is ``indexed`` or ``refused`` (then ``detail`` says why); ``indexer_version``
lets a newer indexer index the layer again. No ``;`` inside literals (the SQLite runner
splits scripts on it).
"""

from __future__ import annotations

_SUPPLY_CHAIN = """
CREATE TABLE layer_inventories (
    blob_digest TEXT PRIMARY KEY,
    indexer_version INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('indexed', 'refused')),
    detail TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL,
    indexed_at {real} NOT NULL
);
ALTER TABLE projects ADD COLUMN sbom_on_push INTEGER NOT NULL DEFAULT 1
"""

_DIALECTS = {"sqlite": {"real": "REAL"}, "postgres": {"real": "DOUBLE PRECISION"}}


def supply_chain_migration(dialect: str) -> str:
    """The supply-chain tables in ``dialect`` (``sqlite`` or ``postgres``)."""
    return _SUPPLY_CHAIN.format(**_DIALECTS[dialect])


# Undoes the step (dockyard migrate --to): inventories are indexed again after an upgrade.
SUPPLY_CHAIN_DOWNGRADE = """
DROP TABLE layer_inventories;
ALTER TABLE projects DROP COLUMN sbom_on_push
"""
