"""The blob life cycle and garbage collection queries, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import SqlGarbageStore, SqlMetadata

Run = Callable[[Awaitable[Any]], Any]
FAR_FUTURE = 1e12  # cut-offs that make every pin and commit count as old


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


A, B, M = digest("a"), digest("b"), digest("manifest")


def _manifest(blobs: tuple[str, ...], tags: tuple[str, ...] = ()) -> NewManifest:
    return NewManifest(M, "application/vnd.oci.image.manifest.v1+json", b"{}", None, None, None,
                       blob_digests=blobs, tags=tags)  # fmt: skip


def test_unreferenced_blob_is_collectable_only_after_its_pin(
    run: Run, metadata: SqlMetadata
) -> None:
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        now = time.time()
        assert await garbage.collectable_blobs(now, now, 10) == [], "pinned and young"
        assert await garbage.collectable_blobs(FAR_FUTURE, FAR_FUTURE, 10) == [(A, 10)]

    run(main())


def test_referenced_blob_is_never_collectable(run: Run, metadata: SqlMetadata) -> None:
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        await metadata.commit_blob("repo", B, 20)
        assert await metadata.put_manifest("repo", _manifest((A,), ("v1",))) == []
        assert await garbage.collectable_blobs(FAR_FUTURE, FAR_FUTURE, 10) == [(B, 20)]
        assert await garbage.mark_deleting(A, FAR_FUTURE, FAR_FUTURE) is None

    run(main())


def test_mark_deleting_unlinks_and_blocks_publishers(run: Run, metadata: SqlMetadata) -> None:
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("one", A, 10)
        await metadata.link_blob("two", A)
        assert sorted(await garbage.mark_deleting(A, FAR_FUTURE, FAR_FUTURE) or []) == [
            "one",
            "two",
        ]
        assert await metadata.linked_blob("one", A) is None
        assert await metadata.link_blob("three", A) is None, "no mount of a blob being deleted"
        assert await metadata.claim_blob(A, 10) == "deleting"
        assert await metadata.commit_blob("one", A, 10) is None
        assert not await metadata.pin_blob("one", A)
        assert await garbage.deleting_blobs(10) == [(A, 10)]
        assert await garbage.forget_blob(A)
        assert await metadata.claim_blob(A, 10) == "publishing"
        assert await metadata.commit_blob("one", A, 10) is not None
        assert await metadata.linked_blob("one", A) is not None

    run(main())


def test_pin_protects_from_a_sweep(run: Run, metadata: SqlMetadata) -> None:
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        assert await metadata.pin_blob("repo", A)
        assert not await metadata.pin_blob("repo", B), "unknown blob"
        now = time.time()
        assert await garbage.mark_deleting(A, now, FAR_FUTURE) is None

    run(main())


def test_a_head_pins_only_blobs_linked_into_its_repository(run: Run, metadata: SqlMetadata) -> None:
    """Pull access to some repository must not let anyone keep another's garbage alive."""
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        metadata.pin_seconds = 0.0
        await metadata.commit_blob("private", A, 10)
        await metadata.commit_blob("public", B, 20)
        metadata.pin_seconds = 3600.0
        assert not await metadata.pin_blob("public", A), "not linked into public"
        assert not await metadata.pin_blob("nowhere", A), "no such repository"
        after = time.time() + 1
        assert await garbage.collectable_blobs(after, FAR_FUTURE, 10) == [(A, 10), (B, 20)]
        assert await metadata.pin_blob("public", B)
        assert await garbage.collectable_blobs(after, FAR_FUTURE, 10) == [(A, 10)]
        assert await garbage.mark_deleting(A, after, FAR_FUTURE) == ["private"]
        assert await garbage.mark_deleting(B, after, FAR_FUTURE) is None

    run(main())


def test_untagged_manifests(run: Run, metadata: SqlMetadata) -> None:
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        assert await metadata.put_manifest("repo", _manifest((A,))) == []
        assert await garbage.untagged_manifests(time.time() - 3600, 0, 10) == []
        assert await garbage.untagged_manifests(FAR_FUTURE, 0, 10) == [("repo", M)]
        assert await garbage.delete_untagged("repo", M, FAR_FUTURE, 0)
        assert await metadata.manifest_by_digest("repo", M) is None
        assert await garbage.collectable_blobs(FAR_FUTURE, FAR_FUTURE, 10) == [(A, 10)]

    run(main())


def test_tagged_manifest_is_not_untagged(run: Run, metadata: SqlMetadata) -> None:
    garbage = SqlGarbageStore(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        assert await metadata.put_manifest("repo", _manifest((A,), ("v1",))) == []
        assert await garbage.untagged_manifests(FAR_FUTURE, 0, 10) == []
        assert not await garbage.delete_untagged("repo", M, FAR_FUTURE, 0)

    run(main())


def test_head_mount_and_manifest_put_each_pin_on_their_own(run: Run, metadata: SqlMetadata) -> None:
    """Commits pin for 0 s here, so only the HEAD (pin_blob), the mount (link_blob) and the
    manifest PUT keep A, B and D from a sweep; C, which nothing relied on, goes."""
    garbage = SqlGarbageStore(metadata.db)
    c, d = digest("c"), digest("d")

    async def main() -> None:
        metadata.pin_seconds = 0.0
        for blob, size in ((A, 10), (B, 20), (c, 30), (d, 40)):
            await metadata.commit_blob("repo", blob, size)
        metadata.pin_seconds = 3600.0
        assert await metadata.pin_blob("repo", A)
        assert await metadata.link_blob("other", B) is not None
        assert await metadata.put_manifest("repo", _manifest((d,))) == []
        assert await metadata.delete_manifest("repo", M)
        after = time.time() + 1
        assert await garbage.collectable_blobs(after, FAR_FUTURE, 10) == [(c, 30)]
        for pinned in (A, B, d):
            assert await garbage.mark_deleting(pinned, after, FAR_FUTURE) is None

    run(main())
