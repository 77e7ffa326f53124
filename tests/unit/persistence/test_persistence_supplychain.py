"""Layer inventories (one row per layer digest, replaced by a newer indexer) and the
project's "SBOM on push" switch, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.persistence.sql import Database
from dockyard.persistence.sql.supplychain import SqlSupplyChain, StoredLayer

Run = Callable[[Awaitable[Any]], Any]
LAYER = "sha256:" + "5" * 64


def test_a_layer_inventory_is_stored_once_and_replaced(run: Run, database: Database) -> None:
    store = SqlSupplyChain(database)
    run(database.execute("DELETE FROM layer_inventories"))
    assert run(store.layer(LAYER)) is None
    first = StoredLayer(1, "refused", "zstd", '{"digest": "x"}')
    run(store.save_layer(LAYER, first))
    assert run(store.layer(LAYER)) == first
    newer = StoredLayer(2, "indexed", "", '{"digest": "y"}')
    run(store.save_layer(LAYER, newer))
    assert run(store.layer(LAYER)) == newer
    count = run(database.fetchone("SELECT COUNT(*) FROM layer_inventories"))
    assert int(count[0]) == 1


def test_sbom_on_push_defaults_on_and_can_be_switched(run: Run, database: Database) -> None:
    store = SqlSupplyChain(database)
    name = "p" + uuid.uuid4().hex[:12]
    now = time.time()
    run(
        database.execute(
            "INSERT INTO projects(name, created_at, updated_at) VALUES (?, ?, ?)", (name, now, now)
        )
    )
    assert run(store.sbom_on_push(name)) is True
    assert run(store.set_sbom_on_push(name, False)) is True
    assert run(store.sbom_on_push(name)) is False
    assert run(store.sbom_on_push("missing-project")) is None
    assert run(store.set_sbom_on_push("missing-project", True)) is False
