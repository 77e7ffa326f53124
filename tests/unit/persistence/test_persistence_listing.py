"""Keyset pagination of repositories and tags: cost per page, each entry exactly once."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.persistence.records import NewManifest
from dockyard.persistence.sql import Session, SqlMetadata

Run = Callable[[Awaitable[Any]], Any]

COUNT = 2500
BLOB = "sha256:" + hashlib.sha256(b"blob").hexdigest()


async def collect(fetch: Callable[[str, int], Awaitable[list[str]]], limit: int) -> list[str]:
    """Follow ``last`` from page to page until a short page."""
    seen: list[str] = []
    last = ""
    while True:
        page = await fetch(last, limit)
        assert len(page) <= limit
        seen += page
        if len(page) < limit:
            return seen
        last = page[-1]


def repository_names() -> list[str]:
    names = [f"team{i % 7}/app-{i}" for i in range(COUNT - 4)]
    names += ["a", "a/b", "a-b", "z"]  # byte order: "a" < "a-b" < "a/b"
    random.Random(7).shuffle(names)
    return names


@pytest.mark.parametrize("limit", [1000, 333, 100])
def test_list_repositories_pages(run: Run, metadata: SqlMetadata, limit: int) -> None:
    names = repository_names()

    async def seed(session: Session) -> None:  # one transaction: fast on both backends
        sql = "INSERT INTO repositories(name, created_at) VALUES (?, 0)"
        await session.executemany(sql, [(name,) for name in names])

    async def main() -> list[str]:
        await metadata.db.transaction(seed)
        return await collect(metadata.list_repositories, limit)

    seen = run(main())
    assert len(seen) == COUNT
    assert seen == sorted(names), "each name once, in byte order"


def test_list_repositories_after_last(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        for name in ("b", "a", "c/d", "c"):
            await metadata.commit_blob(name, BLOB, 4)
        assert await metadata.list_repositories("", 10) == ["a", "b", "c", "c/d"]
        assert await metadata.list_repositories("b", 10) == ["c", "c/d"]
        assert await metadata.list_repositories("bb", 1) == ["c"]
        assert await metadata.list_repositories("c/d", 10) == []
        assert await metadata.list_repositories("", 0) == []

    run(main())


def tag_names() -> list[str]:
    tags = [f"v{i}" for i in range(COUNT - 6)]
    tags += ["latest", "Latest", "LATEST", "_x", "1.0", "1.0-rc1"]
    random.Random(11).shuffle(tags)
    return tags


@pytest.mark.parametrize("limit", [1000, 7, 256])
def test_list_tags_pages(run: Run, metadata: SqlMetadata, limit: int) -> None:
    tags = tag_names()

    async def main() -> list[str]:
        await metadata.commit_blob("repo", BLOB, 4)
        new = NewManifest(
            digest="sha256:" + hashlib.sha256(b"m").hexdigest(),
            media_type="application/vnd.oci.image.manifest.v1+json",
            content=b"{}",
            artifact_type=None,
            subject=None,
            annotations_json=None,
            blob_digests=(BLOB,),
            tags=tuple(tags),
        )
        assert await metadata.put_manifest("repo", new) == []

        async def fetch(last: str, n: int) -> list[str]:
            page = await metadata.list_tags("repo", last, n)
            assert page is not None
            return page

        return await collect(fetch, limit)

    seen = run(main())
    assert len(seen) == COUNT
    assert len(set(seen)) == COUNT
    assert seen == sorted(tags)


def test_list_tags_unknown_and_empty_repository(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        assert await metadata.list_tags("unknown", "", 10) is None
        await metadata.commit_blob("blobs-only", BLOB, 4)
        assert await metadata.list_tags("blobs-only", "", 10) == []

    run(main())


def test_repository_names_sort_bytewise(run: Run, metadata: SqlMetadata) -> None:
    """PostgreSQL's "C" collation keeps keyset pages in SQLite's (byte) order."""
    names = ["a", "B", "a-b", "a/b", "_x", "é", "z"]

    async def main() -> list[str]:
        for name in names:
            await metadata.commit_blob(name, BLOB, 1)
        return await metadata.list_repositories("", 100)

    assert run(main()) == sorted(names, key=str.encode)
