"""Blobs: one row per content, visible per repository through links."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.persistence.sql import SqlMetadata

Run = Callable[[Awaitable[Any]], Any]
Rows = Callable[..., list[tuple[Any, ...]]]


def blob_digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


A = blob_digest("a")
B = blob_digest("b")


def test_commit_links_into_repository_only(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        record = await metadata.commit_blob("team/app", A, 42)
        assert record.digest == A and record.size == 42
        linked = await metadata.linked_blob("team/app", A)
        assert linked is not None and linked.size == 42
        assert await metadata.linked_blob("other/app", A) is None
        assert await metadata.linked_blob("team/app", B) is None
        assert (await metadata.any_blob(A)) is not None
        assert await metadata.any_blob(B) is None
        assert await metadata.repository_exists("team/app")
        assert not await metadata.repository_exists("other/app")

    run(main())


def test_commit_same_digest_twice_keeps_one_row(
    run: Run, metadata: SqlMetadata, rows: Rows
) -> None:
    async def main() -> None:
        await metadata.commit_blob("one", A, 5)
        await metadata.commit_blob("two", A, 5)
        await metadata.commit_blob("two", A, 5)
        assert sorted(await metadata.repositories_with_blob(A)) == ["one", "two"]
        assert await metadata.repositories_with_blob(A, limit=1) in (["one"], ["two"])

    run(main())
    count = rows("SELECT count(*) FROM blobs")[0][0]
    links = rows("SELECT count(*) FROM repository_blobs")[0][0]
    assert (count, links) == (1, 2)


def test_link_existing_blob_is_a_mount(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await metadata.commit_blob("source", A, 7)
        mounted = await metadata.link_blob("target", A)
        assert mounted is not None and mounted.digest == A and mounted.size == 7
        assert await metadata.linked_blob("target", A) is not None
        assert await metadata.link_blob("target", A) is not None, "linking twice is fine"

    run(main())


def test_link_unknown_blob_returns_none_and_creates_nothing(
    run: Run, metadata: SqlMetadata
) -> None:
    async def main() -> None:
        assert await metadata.link_blob("target", B) is None
        assert not await metadata.repository_exists("target")
        assert await metadata.list_repositories("", 10) == []

    run(main())


def test_unlink_hides_blob_from_that_repository_only(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await metadata.commit_blob("one", A, 1)
        await metadata.link_blob("two", A)
        assert await metadata.unlink_blob("one", A) is True
        assert await metadata.linked_blob("one", A) is None
        assert await metadata.linked_blob("two", A) is not None
        assert await metadata.any_blob(A) is not None, "bytes stay until GC"
        assert await metadata.unlink_blob("one", A) is False
        assert await metadata.unlink_blob("nowhere", A) is False
        assert await metadata.unlink_blob("two", B) is False
        assert await metadata.repositories_with_blob(A) == ["two"]

    run(main())


def test_commit_and_link_pin_the_blob(run: Run, metadata: SqlMetadata, rows: Rows) -> None:
    def pinned_until() -> float:
        return float(rows("SELECT pinned_until FROM blobs WHERE digest = ?", A)[0][0])

    before = time.time()
    run(metadata.commit_blob("one", A, 1))
    assert pinned_until() >= before + 3600 - 1
    run(metadata.db.execute("UPDATE blobs SET pinned_until = 0"))
    run(metadata.link_blob("two", A))
    assert pinned_until() >= before + 3600 - 1


def test_commit_is_one_transaction(
    run: Run, metadata: SqlMetadata, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure while linking leaves no blob row behind."""

    async def broken(*args: object) -> None:
        raise RuntimeError("link failed")

    monkeypatch.setattr(metadata, "_link", broken)
    with pytest.raises(RuntimeError):
        run(metadata.commit_blob("one", A, 1))
    assert run(metadata.any_blob(A)) is None
    monkeypatch.undo()
    assert run(metadata.commit_blob("two", A, 1)).digest == A, "the database is usable after"
