"""``gc --dry-run --delete-untagged`` reports exactly what the real run then deletes, on SQLite
and PostgreSQL: untagged manifests with the cascades (an index's children, a deleted subject's
referrers), then the blobs only they used, with their bytes."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.cache.base import MemoryCache
from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import Database, SqlGarbageStore, SqlMetadata
from dockyard.services.lifecycle.gc import GarbageCollector
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.storage.drivers.memory import MemoryDriver

Run = Callable[[Awaitable[Any]], Any]
IMAGE = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def manifest(name: str, *, blobs: tuple[str, ...] = (), children: tuple[str, ...] = (),
             subject: str | None = None, tags: tuple[str, ...] = ()) -> NewManifest:  # fmt: skip
    media_type = INDEX if children else IMAGE
    return NewManifest(digest(name), media_type, name.encode(), None, subject, None,
                       blob_digests=blobs, child_digests=children, tags=tags)  # fmt: skip


SIZES = {name: 100 * (n + 1) for n, name in enumerate(
    ["shared", "kept", "only-untagged", "child-1", "child-2", "other-repo", "sig", "kid",
     "orphan", "pinned", "leftover", "tagged-sig"])}  # fmt: skip


async def _scenario(metadata: SqlMetadata, garbage: SqlGarbageStore) -> None:
    for name, size in SIZES.items():
        if name == "pinned":
            metadata.pin_seconds = 100_000.0  # a HEAD pin the sweep must respect
        await metadata.commit_blob("other" if name == "other-repo" else "app", digest(name), size)
        metadata.pin_seconds = 3600.0
    await metadata.link_blob("app", digest("other-repo"))  # a mount: shared by two repositories
    puts = [
        ("app", manifest("tagged", blobs=(digest("shared"), digest("kept")), tags=("v1",))),
        ("app", manifest("untagged", blobs=(digest("shared"), digest("only-untagged")))),
        ("app", manifest("child-1", blobs=(digest("child-1"),))),
        ("app", manifest("child-2", blobs=(digest("child-2"), digest("other-repo")))),
        ("other", manifest("keeps", blobs=(digest("other-repo"),), tags=("x",))),
        ("app", manifest("index", children=(digest("child-1"), digest("child-2")))),
        ("app", manifest("sig", blobs=(digest("sig"),), subject=digest("index"))),
        ("app", manifest("kid", blobs=(digest("kid"),))),
        ("app", manifest("tagged-index", children=(digest("kid"),), tags=("multi",))),
        ("app", manifest("tagged-sig", blobs=(digest("tagged-sig"),), subject=digest("tagged"))),
    ]
    for repository, new in puts:
        assert await metadata.put_manifest(repository, new) == [], new.content
    assert await garbage.mark_deleting(digest("leftover"), 1e12, 1e12) == ["app"]  # a crash


def test_dry_run_reports_what_the_real_run_deletes(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    garbage = SqlGarbageStore(database)
    gc = GarbageCollector(MemoryDriver(), garbage, BlobDescriptorCache(MemoryCache()),
                          grace_seconds=60.0, clock=lambda: time.time() + 120)  # fmt: skip

    async def main() -> None:
        await _scenario(metadata, garbage)
        dry = await gc.run(dry_run=True, delete_untagged=True)
        gone = ["untagged", "index", "child-1", "child-2", "sig"]
        assert sorted(dry.manifests) == sorted(("app", digest(name)) for name in gone)
        assert dry.manifests.index(("app", digest("index"))) < dry.manifests.index(
            ("app", digest("child-1"))
        ), "in the order the real run deletes them"
        freed = ["only-untagged", "child-1", "child-2", "sig", "orphan", "leftover"]
        assert sorted(dry.blobs) == sorted((digest(name), SIZES[name]) for name in freed)
        assert await metadata.manifest_by_digest("app", digest("index")) is not None, "dry"

        real = await gc.run(delete_untagged=True)
        assert (real.manifests_deleted, real.blobs_deleted, real.bytes_freed) == (
            dry.manifests_deleted, dry.blobs_deleted, dry.bytes_freed,
        )  # fmt: skip
        assert dry.bytes_freed == sum(SIZES[name] for name in freed)
        for name in ("untagged", "index", "child-1", "child-2", "sig"):
            assert await metadata.manifest_by_digest("app", digest(name)) is None, name
        for name in ("tagged", "kid", "tagged-index", "tagged-sig"):
            assert await metadata.manifest_by_digest("app", digest(name)) is not None, name
        for name in SIZES:
            present = await metadata.any_blob(digest(name)) is not None
            assert present == (name not in freed), name
        again = await gc.run(dry_run=True, delete_untagged=True)
        assert (again.manifests, again.blobs) == ([], []), "nothing left to collect"

    run(main())


def test_dry_run_without_untagged_counts_only_unreferenced_blobs(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    garbage = SqlGarbageStore(database)
    gc = GarbageCollector(MemoryDriver(), garbage, BlobDescriptorCache(MemoryCache()),
                          grace_seconds=60.0, clock=lambda: time.time() + 120)  # fmt: skip

    async def main() -> None:
        await _scenario(metadata, garbage)
        dry = await gc.run(dry_run=True)
        expected = [(digest(name), SIZES[name]) for name in ("leftover", "orphan")]
        assert (dry.manifests, sorted(dry.blobs)) == ([], sorted(expected))
        real = await gc.run()
        assert (real.manifests_deleted, real.blobs_deleted, real.bytes_freed) == (
            0, 2, sum(size for _, size in expected),
        )  # fmt: skip

    run(main())
