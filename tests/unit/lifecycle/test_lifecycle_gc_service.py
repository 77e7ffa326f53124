"""The garbage collector itself, on SQLite and PostgreSQL: cached descriptors are invalidated
before any bytes are deleted, and a run finishes what a crashed run had started."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.cache.base import MemoryCache
from dockyard.core.digest import parse_digest
from dockyard.persistence.records import BlobRecord
from dockyard.persistence.sql import Database, SqlGarbageStore, SqlMetadata
from dockyard.services.lifecycle.gc import GarbageCollector
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.storage.driver import PathNotFoundError
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.layout import blob_path

Run = Callable[[Awaitable[Any]], Any]
DATA = b"layer bytes"
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
PATH = blob_path(parse_digest(DIGEST))


class RecordingCache(MemoryCache):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def delete(self, *keys: str) -> None:
        self.events.extend(f"forget {key}" for key in keys)
        await super().delete(*keys)


class RecordingDriver(MemoryDriver):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    async def delete(self, path: str) -> None:
        self.events.append(f"delete {path}")
        await super().delete(path)


def _collector(database: Database, events: list[str]) -> tuple[GarbageCollector, MemoryDriver]:
    storage = RecordingDriver(events)
    descriptors = BlobDescriptorCache(RecordingCache(events))
    gc = GarbageCollector(storage, SqlGarbageStore(database), descriptors, grace_seconds=0.0,
                          clock=lambda: time.time() + 1)  # fmt: skip
    return gc, storage


def test_cached_descriptors_go_before_the_bytes(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    events: list[str] = []
    gc, storage = _collector(database, events)

    async def main() -> None:
        await storage.put_content(PATH, DATA)
        await metadata.commit_blob("team/app", DIGEST, len(DATA))
        await gc.descriptors.remember("team/app", BlobRecord(DIGEST, len(DATA)))
        report = await gc.run()
        assert (report.blobs_deleted, report.bytes_freed) == (1, len(DATA))
        forget = f"forget bd:team/app@{DIGEST}"
        deletes = [i for i, event in enumerate(events) if event.startswith("delete ")]
        assert forget in events and deletes, events
        assert events.index(forget) < deletes[0], events
        assert await gc.descriptors.get("team/app", DIGEST) is None

    run(main())


@pytest.mark.parametrize("bytes_deleted", [False, True])
def test_a_run_finishes_what_a_crashed_run_marked(
    run: Run, database: Database, metadata: SqlMetadata, bytes_deleted: bool
) -> None:
    """A run killed after taking a blob to ``deleting`` (before or after deleting its bytes)
    left a row no sweep lists any more; the next run deletes the bytes and the row."""
    gc, storage = _collector(database, [])
    garbage = SqlGarbageStore(database)

    async def main() -> None:
        await storage.put_content(PATH, DATA)
        await metadata.commit_blob("team/app", DIGEST, len(DATA))
        assert await garbage.mark_deleting(DIGEST, 1e12, 1e12) == ["team/app"]
        if bytes_deleted:
            await storage.delete(PATH)
        dry = await gc.run(dry_run=True)
        assert (dry.blobs_deleted, dry.bytes_freed) == (1, len(DATA)), "the real run frees it"
        assert await garbage.deleting_blobs(10) == [(DIGEST, len(DATA))], "dry: nothing changed"
        report = await gc.run()
        assert (report.blobs_deleted, report.bytes_freed) == (1, len(DATA))
        assert await garbage.deleting_blobs(10) == []
        assert await metadata.any_blob(DIGEST) is None
        with pytest.raises(PathNotFoundError):
            await storage.stat(PATH)
        assert await metadata.claim_blob(DIGEST, len(DATA)) == "publishing", "pushable again"

    run(main())
