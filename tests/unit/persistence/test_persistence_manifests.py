"""Manifests, tags and referrers: references checked and recorded in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from dockyard.persistence.records import NewManifest, ReferenceSizeError, SizeMismatch
from dockyard.persistence.sql import SqlMetadata

Run = Callable[[Awaitable[Any]], Any]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIGNATURE = "application/vnd.example.signature.v1"
SBOM = "application/vnd.example.sbom.v1"


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


CONFIG, LAYER = digest("config"), digest("layer")


def manifest(
    name: str,
    *,
    blobs: tuple[str, ...] = (CONFIG, LAYER),
    children: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    subject: str | None = None,
    artifact_type: str | None = None,
    media_type: str = OCI_MANIFEST,
) -> NewManifest:
    content = f'{{"name": "{name}"}}'.encode()
    return NewManifest(
        digest=digest(name),
        media_type=media_type,
        content=content,
        artifact_type=artifact_type,
        subject=subject,
        annotations_json=b'{"k": "v"}' if artifact_type else None,
        blob_digests=blobs,
        child_digests=children,
        tags=tags,
    )


async def counts(metadata: SqlMetadata) -> dict[str, int]:
    tables = ("repositories", "blobs", "repository_blobs", "manifests", "manifest_refs", "tags")
    found = {}
    for table in tables:
        row = await metadata.db.fetchone(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert row is not None
        found[table] = int(row[0])
    return found


async def push_blobs(metadata: SqlMetadata, repository: str) -> None:
    await metadata.commit_blob(repository, CONFIG, 10)
    await metadata.commit_blob(repository, LAYER, 20)


def test_missing_references_write_nothing_in_a_new_repository(
    run: Run, metadata: SqlMetadata
) -> None:
    async def main() -> None:
        missing = await metadata.put_manifest("fresh/repo", manifest("m", tags=("latest",)))
        assert missing == [CONFIG, LAYER]
        assert not await metadata.repository_exists("fresh/repo")
        assert await metadata.list_repositories("", 100) == []
        assert await metadata.manifest_by_digest("fresh/repo", digest("m")) is None
        assert await metadata.list_tags("fresh/repo", "", 100) is None

    run(main())
    assert set(run(counts(metadata)).values()) == {0}, "no repository row leaks from a refused PUT"


def test_missing_references_write_nothing_in_an_existing_repository(
    run: Run,
    metadata: SqlMetadata,
) -> None:
    async def main() -> None:
        await metadata.commit_blob("repo", CONFIG, 10)
        before = await counts(metadata)
        missing = await metadata.put_manifest("repo", manifest("m", tags=("latest",)))
        assert missing == [LAYER]
        assert await counts(metadata) == before
        assert await metadata.manifest_by_tag("repo", "latest") is None

    run(main())


def test_blob_linked_elsewhere_does_not_count(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "other")
        assert await metadata.put_manifest("repo", manifest("m")) == [CONFIG, LAYER]
        assert await metadata.manifest_by_digest("repo", digest("m")) is None

    run(main())


def test_put_manifest_with_present_references_records_tags(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        new = manifest("m", tags=("latest", "v1"))
        assert await metadata.put_manifest("repo", new) == []
        by_digest = await metadata.manifest_by_digest("repo", new.digest)
        assert by_digest is not None
        assert by_digest.content == new.content, "bytes are stored verbatim"
        assert by_digest.media_type == OCI_MANIFEST
        for tag in ("latest", "v1"):
            by_tag = await metadata.manifest_by_tag("repo", tag)
            assert by_tag == by_digest
        assert await metadata.list_tags("repo", "", 10) == ["latest", "v1"]
        assert await metadata.manifest_by_digest("other", new.digest) is None

    run(main())
    refs = run(metadata.db.fetchall("SELECT digest, kind FROM manifest_refs ORDER BY digest"))
    assert sorted(refs) == sorted([(CONFIG, "blob"), (LAYER, "blob")])


def test_index_requires_children_in_same_repository(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("amd64"))
        idx = manifest(
            "idx", blobs=(), children=(digest("amd64"), digest("arm64")), media_type=OCI_INDEX
        )
        assert await metadata.put_manifest("repo", idx) == [digest("arm64")]
        await metadata.put_manifest("repo", manifest("arm64"))
        assert await metadata.put_manifest("repo", idx) == []
        assert await metadata.manifest_by_digest("repo", idx.digest) is not None

    run(main())


def test_declared_size_must_match_the_stored_one(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")  # CONFIG 10 bytes, LAYER 20
        await metadata.put_manifest("repo", manifest("child"))
        child_size = len(manifest("child").content)
        before = await counts(metadata)
        wrong = replace(manifest("m", tags=("v",)), declared_sizes=((CONFIG, 10), (LAYER, 21)))
        with pytest.raises(ReferenceSizeError) as error:
            await metadata.put_manifest("repo", wrong)
        assert error.value.mismatches == [SizeMismatch(LAYER, 21, 20)]
        assert await counts(metadata) == before, "nothing of a refused push is written"
        index = manifest("idx", blobs=(), children=(digest("child"),), media_type=OCI_INDEX)
        with pytest.raises(ReferenceSizeError) as error:
            await metadata.put_manifest(
                "repo", replace(index, declared_sizes=((digest("child"), child_size + 1),))
            )
        assert error.value.mismatches == [SizeMismatch(digest("child"), child_size + 1, child_size)]
        right = replace(index, declared_sizes=((digest("child"), child_size),))
        assert await metadata.put_manifest("repo", right) == []

    run(main())


def test_optional_children_may_be_absent(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("amd64"))
        children = (digest("amd64"), digest("arm64"), digest("s390x"))
        idx = manifest("idx", blobs=(), children=children, media_type=OCI_INDEX)
        sparse = replace(idx, optional_children=frozenset({digest("arm64")}))
        assert await metadata.put_manifest("repo", sparse) == [digest("s390x")]
        sparse = replace(idx, optional_children=frozenset(children[1:]))
        assert await metadata.put_manifest("repo", sparse) == []
        refs = await metadata.db.fetchall(
            "SELECT digest FROM manifest_refs WHERE kind = 'manifest' ORDER BY digest"
        )
        assert sorted(r[0] for r in refs) == sorted(children), "absent children are referenced"

    run(main())


def test_repush_same_manifest_is_idempotent(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        assert await metadata.put_manifest("repo", manifest("m", tags=("a",))) == []
        before = await counts(metadata)
        assert await metadata.put_manifest("repo", manifest("m", tags=("a",))) == []
        assert await counts(metadata) == before
        assert await metadata.put_manifest("repo", manifest("m", tags=("b",))) == []
        assert await metadata.list_tags("repo", "", 10) == ["a", "b"]

    run(main())


def test_tag_move(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("old", tags=("latest", "stable")))
        await metadata.put_manifest("repo", manifest("new", tags=("latest",)))
        latest = await metadata.manifest_by_tag("repo", "latest")
        stable = await metadata.manifest_by_tag("repo", "stable")
        assert latest is not None and latest.digest == digest("new")
        assert stable is not None and stable.digest == digest("old")
        assert await metadata.list_tags("repo", "", 10) == ["latest", "stable"]
        assert await metadata.manifest_by_digest("repo", digest("old")) is not None

    run(main())


def test_delete_manifest_cascades_tags_and_refs(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("m", tags=("latest", "v1")))
        await metadata.put_manifest("repo", manifest("keep", tags=("keep",)))
        assert await metadata.delete_manifest("repo", digest("m")) is True
        assert await metadata.manifest_by_digest("repo", digest("m")) is None
        assert await metadata.manifest_by_tag("repo", "latest") is None
        assert await metadata.list_tags("repo", "", 10) == ["keep"]
        assert await metadata.delete_manifest("repo", digest("m")) is False
        assert await metadata.delete_manifest("nowhere", digest("keep")) is False
        assert await metadata.linked_blob("repo", CONFIG) is not None, "blob links stay"

    run(main())
    ids = run(metadata.db.fetchall("SELECT id FROM manifests"))
    orphans = run(
        metadata.db.fetchone(
            "SELECT count(*) FROM manifest_refs WHERE manifest_id NOT IN (SELECT id FROM manifests)"
        )
    )[0]
    assert len(ids) == 1 and orphans == 0


def test_delete_tag(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("m", tags=("a", "b")))
        assert await metadata.delete_tag("repo", "a") is True
        assert await metadata.delete_tag("repo", "a") is False
        assert await metadata.delete_tag("nowhere", "b") is False
        assert await metadata.list_tags("repo", "", 10) == ["b"]
        assert await metadata.manifest_by_digest("repo", digest("m")) is not None

    run(main())


def test_referrers_with_and_without_filter(run: Run, metadata: SqlMetadata) -> None:
    target = digest("target")

    async def main() -> None:
        await push_blobs(metadata, "repo")
        await push_blobs(metadata, "other")
        await metadata.put_manifest("repo", manifest("target"))
        for name, kind in (("sig", SIGNATURE), ("sbom", SBOM)):
            await metadata.put_manifest("repo", manifest(name, subject=target, artifact_type=kind))
        await metadata.put_manifest("repo", manifest("plain", subject=target))
        await metadata.put_manifest("repo", manifest("unrelated", artifact_type=SIGNATURE))
        await metadata.put_manifest(
            "other", manifest("elsewhere", subject=target, artifact_type=SIGNATURE)
        )

        everything = await metadata.referrers("repo", target, None)
        assert [r.digest for r in everything] == [digest("sig"), digest("sbom"), digest("plain")]
        sig = everything[0]
        assert sig.media_type == OCI_MANIFEST
        assert sig.artifact_type == SIGNATURE
        assert sig.size == len(b'{"name": "sig"}')
        assert sig.annotations_json == b'{"k": "v"}'
        assert everything[2].artifact_type is None

        only_sigs = await metadata.referrers("repo", target, SIGNATURE)
        assert [r.digest for r in only_sigs] == [digest("sig")]
        assert await metadata.referrers("repo", target, "application/none") == []
        assert await metadata.referrers("repo", digest("nothing"), None) == []
        assert await metadata.referrers("missing", target, None) == []

        await metadata.delete_manifest("repo", digest("sig"))
        assert [r.digest for r in await metadata.referrers("repo", target, None)] == [
            digest("sbom"),
            digest("plain"),
        ]

    run(main())


def test_referrer_may_arrive_before_its_subject(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        sig = manifest("sig", subject=digest("later"), artifact_type=SIGNATURE)
        assert await metadata.put_manifest("repo", sig) == []
        assert len(await metadata.referrers("repo", digest("later"), None)) == 1

    run(main())


def test_foreign_keys_enforced(run: Run, metadata: SqlMetadata) -> None:
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        run(
            metadata.db.execute(
                "INSERT INTO tags(repository_id, name, manifest_id, updated_at) "
                "VALUES (999, 't', 999, 0)"
            )
        )
    assert run(metadata.list_tags("repo", "", 10)) is None
