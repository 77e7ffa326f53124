"""Sample metadata for the lifecycle unit tests: two projects sharing a layer."""

from __future__ import annotations

import hashlib

from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import SqlMetadata

OCI = "application/vnd.oci.image.manifest.v1+json"


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


SHARED, OWN, OTHER, LOOSE = digest("shared"), digest("own"), digest("other"), digest("loose")


def manifest(seed: str, blobs: tuple[str, ...], tags: tuple[str, ...] = ("v",)) -> NewManifest:
    body = seed.encode() * 10  # 10 bytes per character
    return NewManifest(digest(seed), OCI, body, None, None, None, blob_digests=blobs, tags=tags)


async def populate(metadata: SqlMetadata) -> None:
    """team/a: SHARED 1000 + OWN 200 (+ LOOSE 7, linked, unused); team/b: SHARED;
    other/c: SHARED + OTHER 30. One 10-byte manifest in each repository."""
    for repository, blob, size in [
        ("team/a", SHARED, 1000), ("team/a", OWN, 200), ("team/b", SHARED, 1000),
        ("other/c", SHARED, 1000), ("other/c", OTHER, 30), ("team/a", LOOSE, 7),
    ]:  # fmt: skip
        await metadata.commit_blob(repository, blob, size)
    assert await metadata.put_manifest("team/a", manifest("a", (SHARED, OWN))) == []
    assert await metadata.put_manifest("team/b", manifest("b", (SHARED,))) == []
    assert await metadata.put_manifest("other/c", manifest("c", (SHARED, OTHER))) == []
