"""Upload purging: stale sessions go, fresh ones stay, nothing goes while read-only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dockyard.persistence.records import UploadRecord
from dockyard.persistence.sql import SqlMetadata
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.lifecycle.maintenance import UploadPurger
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.layout import upload_path

Run = Callable[[Awaitable[Any]], Any]
NOW = 1_000_000.0


def _purger(
    tmp_path: Path, read_only: list[bool]
) -> tuple[UploadPurger, SqlMetadata, MemoryDriver]:
    metadata = SqlMetadata(SqliteDatabase(str(tmp_path / "metadata.db")))
    storage = MemoryDriver()

    async def is_read_only() -> bool:
        return read_only[0]

    purger = UploadPurger(
        storage, metadata, enabled=True, age_seconds=3600, interval_seconds=60, dry_run=False,
        clock=lambda: NOW, is_read_only=is_read_only,
    )  # fmt: skip
    return purger, metadata, storage


async def _session(
    metadata: SqlMetadata, storage: MemoryDriver, upload_id: str, idle: float
) -> None:
    await metadata.uploads.create(UploadRecord(upload_id, "repo", "", 0, NOW - idle, NOW - idle))
    await storage.put_content(upload_path(upload_id), b"partial")


def test_stale_sessions_are_purged_fresh_ones_kept(tmp_path: Path, run: Run) -> None:
    purger, metadata, storage = _purger(tmp_path, [False])

    async def main() -> None:
        await _session(metadata, storage, "s" * 32, idle=7200)
        await _session(metadata, storage, "f" * 32, idle=60)
        assert await purger.purge_once() == ["s" * 32]
        assert await metadata.uploads.get("s" * 32) is None
        assert await metadata.uploads.get("f" * 32) is not None
        assert (await storage.stat(upload_path("f" * 32))).size == 7

    run(main())


def test_nothing_is_purged_while_switched_read_only(tmp_path: Path, run: Run) -> None:
    read_only = [True]
    purger, metadata, storage = _purger(tmp_path, read_only)

    async def main() -> None:
        await _session(metadata, storage, "s" * 32, idle=7200)
        assert await purger.purge_once() == []
        assert await metadata.uploads.get("s" * 32) is not None
        read_only[0] = False
        assert await purger.purge_once() == ["s" * 32]

    run(main())


def test_a_dry_run_lists_stale_sessions_and_removes_nothing(tmp_path: Path, run: Run) -> None:
    purger, metadata, storage = _purger(tmp_path, [False])
    purger.dry_run = True

    async def main() -> None:
        await _session(metadata, storage, "s" * 32, idle=7200)
        await _session(metadata, storage, "f" * 32, idle=60)
        assert await purger.purge_once() == ["s" * 32]
        assert await metadata.uploads.get("s" * 32) is not None
        assert (await storage.stat(upload_path("s" * 32))).size == 7

    run(main())
