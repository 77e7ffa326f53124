"""Per-project usage, counted once per blob, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.usage import SqlUsage
from support.lifecycle_data import OTHER, OWN, populate

Run = Callable[[Awaitable[Any]], Any]


def test_usage_counts_each_blob_once_per_project(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    usage = SqlUsage(database)

    async def main() -> None:
        await populate(metadata)
        later = time.time() + 10  # nothing is recent any more
        assert await usage.stored_bytes("team", later) == 1000 + 200 + 20
        assert await usage.stored_bytes("team", 0) == 1000 + 200 + 7 + 20, "recent: counts"
        assert await usage.stored_bytes("other", later) == 1030 + 10
        assert await usage.stored_bytes("nobody", later) == 0
        assert await usage.stored_bytes("tea", later) == 0, "a prefix is not a project"
        detail = await usage.usage_detail("team", later)
        assert (detail.blob_bytes, detail.blobs, detail.manifest_bytes) == (1200, 2, 20)
        assert (detail.unique_bytes, detail.shared_bytes) == (200, 1000)
        assert detail.unreferenced_bytes == 7, "linked, used by no manifest: gc frees it"
        assert await usage.counts_blob("team", OWN, later)
        assert not await usage.counts_blob("team", OTHER, later)
        assert await usage.projects() == ["other", "team"]

    run(main())


def test_uploads_in_progress_count(run: Run, metadata: SqlMetadata, database: Database) -> None:
    usage = SqlUsage(database)

    async def main() -> None:
        now = time.time()
        for upload_id, repository in [("u1" * 8, "team"), ("u2" * 8, "team/a"),
                                      ("u3" * 8, "teamx/a")]:  # fmt: skip
            await metadata.uploads.create(UploadRecord(upload_id, repository, "", 0, now, now))
            await metadata.uploads.set_offset(upload_id, 100, now)
        assert await usage.in_flight_bytes("team") == 200
        assert await usage.in_flight_bytes("team", "u1" * 8) == 100

    run(main())
