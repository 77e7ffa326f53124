"""A sweep (grace 0) that lands between a publisher putting the bytes in place and its commit.

Deterministic interleavings, on SQLite and PostgreSQL, with the bytes moved into place on the
filesystem and on S3 (SeaweedFS: a server-side copy), or committed by a direct writer (S3's
multipart upload at the blob's key, the memory driver's equivalent). The push must win: its
bytes are published and kept. Where a sweep did delete the bytes a publisher had placed, the
answer is a retryable 503 and nothing is recorded, never a blob row without bytes or a 500.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.cache.base import MemoryCache
from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.sql import Database, SqlGarbageStore, SqlMetadata
from dockyard.services.lifecycle.gc import GarbageCollector
from dockyard.services.registry.blob_publishing import BlobPublisher
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.storage.driver import BlobWriter, StorageDriver
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.layout import blob_path, upload_path
from support.s3_direct import small_part_driver
from support.seaweed import session_seaweed

Run = Callable[[Awaitable[Any]], Any]
Hook = Callable[[], Awaitable[None]]
DATA = b"fresh layer bytes " * 4096
DIGEST = parse_digest("sha256:" + hashlib.sha256(DATA).hexdigest())
REPOSITORY = "team/app"
SOURCE = upload_path("u" * 32)


class AfterPlacing:
    """A real driver whose ``move`` and direct writers' ``commit`` run ``hook`` once done."""

    def __init__(self, driver: StorageDriver) -> None:
        self.driver = driver
        self.hook: Hook | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)

    async def move(self, source: str, destination: str) -> None:
        await self.driver.move(source, destination)
        await self._fire()

    async def direct_writer(self, path: str) -> BlobWriter | None:
        writer = await self.driver.direct_writer(path)
        if writer is None:
            return None
        real_commit = writer.commit

        async def commit() -> None:
            await real_commit()
            await self._fire()

        writer.commit = commit  # type: ignore[method-assign]
        return writer

    async def _fire(self) -> None:
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()


class FinishOnDeleting:
    """Metadata whose ``claim_blob`` runs ``hook`` once when it answers "deleting" (the rest of
    the sweep happens while the publisher waits)."""

    def __init__(self, metadata: SqlMetadata) -> None:
        self.metadata = metadata
        self.hook: Hook | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metadata, name)

    async def claim_blob(self, digest: str, size: int) -> str:
        state = await self.metadata.claim_blob(digest, size)
        hook, self.hook = self.hook, None
        if state == "deleting" and hook is not None:
            await hook()
        return state


@pytest.fixture(params=["filesystem", "s3"])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageDriver]:
    if request.param == "filesystem":
        yield FilesystemDriver(str(tmp_path / "storage"))
    else:
        yield small_part_driver(session_seaweed(request.getfixturevalue("tmp_path_factory")))


def _collector(database: Database, storage: StorageDriver) -> GarbageCollector:
    descriptors = BlobDescriptorCache(MemoryCache())
    return GarbageCollector(storage, SqlGarbageStore(database), descriptors, grace_seconds=0.0,
                            clock=lambda: time.time() + 1)  # fmt: skip


async def _mark_only(database: Database) -> None:
    """The first step of a sweep with grace 0: take the blob to ``deleting`` if it may."""
    now = time.time() + 1
    await SqlGarbageStore(database).mark_deleting(DIGEST.text, now + 3600.0, now)


async def _published(storage: StorageDriver, metadata: SqlMetadata) -> None:
    chunks = [chunk async for chunk in storage.read(blob_path(DIGEST))]
    assert b"".join(chunks) == DATA
    assert await metadata.linked_blob(REPOSITORY, DIGEST.text) is not None
    row = await metadata.db.fetchone("SELECT state FROM blobs WHERE digest = ?", (DIGEST.text,))
    assert row is not None and row[0] == "ready"


async def _staged(storage: StorageDriver) -> None:
    writer = await storage.writer(SOURCE, append=False)
    await writer.write(DATA)
    await writer.flush()
    await writer.close()


@pytest.mark.parametrize("sweep", ["whole sweep", "marked, then finished while waiting"])
def test_a_sweep_between_move_and_commit_keeps_the_pushed_bytes(
    run: Run, database: Database, metadata: SqlMetadata, driver: StorageDriver, sweep: str
) -> None:
    storage, tracked = AfterPlacing(driver), FinishOnDeleting(metadata)
    gc = _collector(database, driver)
    publisher = BlobPublisher(storage, tracked)  # type: ignore[arg-type]

    async def main() -> None:
        await _staged(driver)
        if sweep == "whole sweep":
            storage.hook = _awaiting(gc.run)
        else:
            storage.hook = lambda: _mark_only(database)
            tracked.hook = _awaiting(gc.run)
        blob = await publisher.moved(SOURCE, REPOSITORY, DIGEST, len(DATA))
        assert (blob.digest, blob.size) == (DIGEST.text, len(DATA))
        await _published(driver, metadata)

    run(main())


@pytest.mark.parametrize("backend", ["memory", "s3"])
def test_a_sweep_between_direct_commit_and_commit_keeps_the_pushed_bytes(
    run: Run,
    database: Database,
    metadata: SqlMetadata,
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    real: StorageDriver = (
        MemoryDriver()
        if backend == "memory"
        else small_part_driver(session_seaweed(tmp_path_factory))
    )
    storage = AfterPlacing(real)
    publisher = BlobPublisher(storage, metadata)
    storage.hook = _awaiting(_collector(database, real).run)

    async def main() -> None:
        writer = await storage.direct_writer(blob_path(DIGEST))
        assert writer is not None
        await writer.write(DATA)
        await publisher.direct(writer, REPOSITORY, DIGEST)
        await _published(real, metadata)

    run(main())


class LosesPlacedBytes:
    """Metadata whose first commit finds the blob being deleted after the sweep removed the
    bytes just placed (a copy another push published, collected at that moment)."""

    def __init__(self, metadata: SqlMetadata, storage: StorageDriver) -> None:
        self.metadata = metadata
        self.storage = storage
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metadata, name)

    async def commit_blob(self, *args: Any, **options: Any) -> Any:
        if not self.fired:
            self.fired = True
            await self.storage.delete(blob_path(DIGEST))
            return None
        return await self.metadata.commit_blob(*args, **options)


@pytest.mark.parametrize("way", ["moved", "direct"])
def test_bytes_lost_after_placing_are_a_503_and_nothing_is_recorded(
    run: Run, metadata: SqlMetadata, way: str, tmp_path: Path
) -> None:
    storage: StorageDriver = MemoryDriver() if way == "direct" else FilesystemDriver(str(tmp_path))
    publisher = BlobPublisher(storage, LosesPlacedBytes(metadata, storage))  # type: ignore[arg-type]

    async def main() -> None:
        with pytest.raises(RegistryError) as raised:
            if way == "moved":
                await _staged(storage)
                await publisher.moved(SOURCE, REPOSITORY, DIGEST, len(DATA))
            else:
                writer = await storage.direct_writer(blob_path(DIGEST))
                assert writer is not None
                await writer.write(DATA)
                await publisher.direct(writer, REPOSITORY, DIGEST)
        assert raised.value.code is ErrorCode.UNAVAILABLE
        assert await metadata.linked_blob(REPOSITORY, DIGEST.text) is None

    run(main())


def _awaiting(step: Callable[[], Awaitable[Any]]) -> Hook:
    async def hook() -> None:
        await step()

    return hook
