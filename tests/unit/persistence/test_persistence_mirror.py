"""What the pull-through cache stores: manifests before their blobs, and tag confirmations."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from dockyard.persistence.records import NewManifest, ReferenceSizeError
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.mirror_tags import SqlMirrorTags
from dockyard.persistence.sql.mirror_upstreams import SqlMirrorUpstreams

Run = Callable[[Awaitable[Any]], Any]


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


CONFIG, LAYER = digest("config"), digest("layer")


def manifest(name: str, tags: tuple[str, ...] = ()) -> NewManifest:
    return NewManifest(
        digest=digest(name),
        media_type="application/vnd.oci.image.manifest.v1+json",
        content=f'{{"name": "{name}"}}'.encode(),
        artifact_type=None,
        subject=None,
        annotations_json=None,
        blob_digests=(CONFIG, LAYER),
        tags=tags,
    )


def test_a_cached_manifest_may_reference_what_is_not_cached_yet(
    run: Run, metadata: SqlMetadata
) -> None:
    async def main() -> None:
        lazy = replace(manifest("m", tags=("v1",)), references_optional=True)
        assert await metadata.put_manifest("hub/alpine", lazy) == []
        found = await metadata.manifest_by_tag("hub/alpine", "v1")
        assert found is not None and found.digest == digest("m")
        await metadata.commit_blob("hub/alpine", CONFIG, 10)  # a blob arrives later
        wrong = replace(
            manifest("n"), references_optional=True, declared_sizes=((CONFIG, 11), (LAYER, 20))
        )
        with pytest.raises(ReferenceSizeError):  # what is there is still checked
            await metadata.put_manifest("hub/alpine", wrong)
        strict = manifest("o")
        assert await metadata.put_manifest("hub/alpine", strict) == [LAYER]  # unchanged rule

    run(main())


def test_tag_confirmations_keep_the_newest(run: Run, database: Database) -> None:
    tags = SqlMirrorTags(database)

    async def main() -> None:
        assert await tags.confirmed("hub/alpine", "3.20") is None
        await tags.confirm("hub/alpine", "3.20", digest("a"), 100.0)
        await tags.confirm("hub/alpine", "3.20", digest("a"), 50.0)  # older: ignored
        assert await tags.confirmed("hub/alpine", "3.20") == (digest("a"), 100.0)
        await tags.confirm("hub/alpine", "3.20", digest("a"), 160.0)
        assert await tags.confirmed("hub/alpine", "3.20") == (digest("a"), 160.0)
        await tags.confirm("hub/alpine", "3.20", digest("b"), 150.0)  # the tag moved
        assert await tags.confirmed("hub/alpine", "3.20") == (digest("b"), 150.0)
        assert await tags.confirmed("hub/alpine", "edge") is None

    run(main())


def test_upstreams_added_at_run_time_are_unique_by_name_and_prefix(
    run: Run, database: Database
) -> None:
    upstreams = SqlMirrorUpstreams(database)

    async def main() -> None:
        assert await upstreams.all_upstreams() == []
        assert await upstreams.add_upstream("quay", "quay", '{"name": "quay"}', 1.0)
        assert await upstreams.add_upstream("hub", "hub", '{"name": "hub"}', 2.0)
        assert not await upstreams.add_upstream("hub", "other", "{}", 3.0)  # name taken
        assert not await upstreams.add_upstream("other", "hub", "{}", 3.0)  # prefix taken
        assert await upstreams.all_upstreams() == [
            ("hub", '{"name": "hub"}'),
            ("quay", '{"name": "quay"}'),
        ]
        assert await upstreams.remove_upstream("hub")
        assert not await upstreams.remove_upstream("hub")
        assert await upstreams.all_upstreams() == [("quay", '{"name": "quay"}')]

    run(main())
