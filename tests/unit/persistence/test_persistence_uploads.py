"""Upload sessions: created, read back, advanced, deleted and found when stale."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql import Database, SqlMetadata

Run = Callable[[Awaitable[Any]], Any]


def record(upload_id: str, activity: float = 100.0, repository: str = "team/app") -> UploadRecord:
    return UploadRecord(
        id=upload_id,
        repository=repository,
        principal="alice",
        offset=0,
        started_at=activity,
        last_activity=activity,
    )


def test_create_and_get(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        new = record("u" * 32)
        await metadata.uploads.create(new)
        assert await metadata.uploads.get("u" * 32) == new
        assert await metadata.get_upload("u" * 32) == new
        assert await metadata.uploads.get("missing") is None

    run(main())


def test_duplicate_id_refused(run: Run, metadata: SqlMetadata) -> None:
    run(metadata.uploads.create(record("dup")))
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        run(metadata.uploads.create(record("dup")))
    assert run(metadata.uploads.delete("dup")) is True, "the database is usable after"


def test_set_offset(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await metadata.uploads.create(record("u1", activity=100.0))
        await metadata.uploads.set_offset("u1", 4096, 250.0)
        got = await metadata.uploads.get("u1")
        assert got is not None
        assert (got.offset, got.last_activity, got.started_at) == (4096, 250.0, 100.0)
        await metadata.uploads.set_offset("missing", 1, 1.0)  # no error, no row
        assert await metadata.uploads.get("missing") is None

    run(main())


def test_delete(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        await metadata.uploads.create(record("u1"))
        assert await metadata.uploads.delete("u1") is True
        assert await metadata.uploads.get("u1") is None
        assert await metadata.uploads.delete("u1") is False

    run(main())


def test_stale(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        for i, activity in enumerate([50.0, 10.0, 300.0, 30.0, 200.0]):
            await metadata.uploads.create(record(f"u{i}", activity))
        await metadata.uploads.set_offset("u1", 10, 400.0)  # activity refreshes it
        stale = await metadata.uploads.stale(before=250.0)
        assert [r.id for r in stale] == ["u3", "u0", "u4"], "oldest first"
        assert [r.id for r in await metadata.uploads.stale(250.0, limit=2)] == ["u3", "u0"]
        assert await metadata.uploads.stale(before=0.0) == []

    run(main())


def test_uploads_survive_reopening(
    run: Run, metadata: SqlMetadata, open_again: Callable[[], Database]
) -> None:
    run(metadata.uploads.create(record("u1")))
    run(metadata.uploads.set_offset("u1", 77, 101.0))
    run(metadata.db.aclose())
    got = run(SqlMetadata(open_again()).uploads.get("u1"))
    assert got is not None and got.offset == 77


def _client_record(upload_id: str, repository: str, client: str) -> UploadRecord:
    return UploadRecord(upload_id, repository, "alice", 0, 100.0, 100.0, client)


def test_create_within_refuses_past_either_cap(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> None:
        create = metadata.uploads.create_within
        assert await create(_client_record("a1", "team/a", "@one"), 2, 3)
        assert await create(_client_record("a2", "team/a", "@two"), 2, 3)
        assert not await create(_client_record("a3", "team/a", "@three"), 2, 3)  # repository
        assert await create(_client_record("b1", "team/b", "@one"), 2, 3)
        assert await create(_client_record("c1", "team/c", "@one"), 2, 3)
        assert not await create(_client_record("d1", "team/d", "@one"), 2, 3)  # client
        assert await metadata.uploads.get("a3") is None and await metadata.uploads.get("d1") is None
        assert await create(_client_record("d2", "team/d", "@two"), 2, 3)
        assert await metadata.uploads.delete("a1")  # a closed session frees its place
        assert await create(_client_record("a4", "team/a", "@three"), 2, 3)
        assert await create(_client_record("e1", "team/a", "@four"), 0, 0)  # 0: no cap
        got = await metadata.uploads.get("a4")
        assert got is not None and got.client == "@three"

    run(main())


def test_sessions_idle_since_before_the_window_do_not_count(
    run: Run, metadata: SqlMetadata
) -> None:
    """An abandoned session (last active at 100) must not keep the repository refused until
    it is purged: counted only when active since ``active_since``."""

    async def main() -> None:
        create = metadata.uploads.create_within
        assert await create(_client_record("a1", "team/a", "@one"), 1, 0, active_since=50.0)
        assert not await create(_client_record("a2", "team/a", "@two"), 1, 0, active_since=50.0)
        assert await create(_client_record("a3", "team/a", "@two"), 1, 0, active_since=150.0)
        await metadata.uploads.set_offset("a3", 10, 400.0)  # activity: counted again
        assert not await create(_client_record("a4", "team/a", "@three"), 1, 0, active_since=300.0)

    run(main())


def test_concurrent_creates_never_pass_the_cap(run: Run, metadata: SqlMetadata) -> None:
    async def main() -> list[bool]:
        records = [_client_record(f"r{n}", "team/busy", f"@{n}") for n in range(8)]
        return list(
            await asyncio.gather(*(metadata.uploads.create_within(r, 3, 0) for r in records))
        )

    assert sorted(run(main())) == [False] * 5 + [True] * 3
