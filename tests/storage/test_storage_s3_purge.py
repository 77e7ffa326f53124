"""Stale multipart uploads are aborted by upload purging, against a real SeaweedFS.

A node that dies while it streams a segment or composes a blob leaves an incomplete multipart
upload whose parts S3 keeps until someone aborts it. SeaweedFS implements
ListMultipartUploads (with a prefix) and AbortMultipartUpload, so the whole path runs here.
Timestamps come from the store, so "older than the age" is arranged by moving the purger's
clock, never by waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest

from dockyard.config.model import S3Settings
from dockyard.persistence.sql import SqlMetadata
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.lifecycle.maintenance import UploadPurger
from dockyard.storage.driver import PathNotFoundError
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.drivers.memory import MemoryDriver
from dockyard.storage.drivers.s3 import S3Driver
from dockyard.storage.drivers.s3_options import options_from_settings
from dockyard.storage.instrumented import InstrumentedDriver
from support.seaweed import SeaweedFS, session_seaweed, unique_root

T = TypeVar("T")
HOUR = 3600.0


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> SeaweedFS:
    return session_seaweed(tmp_path_factory)


def make_driver(weed: SeaweedFS, root: str) -> S3Driver:
    settings = msgspec.convert(weed.settings(root), S3Settings)
    return S3Driver(options_from_settings(settings, redirect=False))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def abandon(driver: S3Driver, path: str) -> str:
    """Begin a multipart upload at ``path`` with one part, and walk away from it."""
    key = driver.options.key(path)
    upload_id = await driver.control.create_multipart(key)
    await driver.control.upload_part(key, upload_id, 1, b"half-written part")
    return upload_id


async def pending(driver: S3Driver) -> list[str]:
    uploads = await driver.control.list_multipart_uploads(driver.options.root + "/")
    return sorted(driver.options.path(u.key) for u in uploads)


def test_stale_multipart_uploads_below_the_root_are_aborted(weed: SeaweedFS) -> None:
    driver, neighbour = make_driver(weed, unique_root("mpu")), make_driver(weed, unique_root("mpu"))
    paths = ["dockyard/uploads/u1/data.segments/00000000000000000000", "blobs/sha256/ab/ab/data"]

    async def main() -> None:
        for path in paths:
            await abandon(driver, path)
        await abandon(neighbour, "blobs/sha256/cd/cd/data")
        now = time.time()
        assert await driver.purge_stale_parts(now - HOUR, dry_run=False) == ()  # too young
        listed = await driver.purge_stale_parts(now + HOUR, dry_run=True)
        assert sorted(listed) == sorted(paths)
        assert await pending(driver) == sorted(paths), "a dry run aborts nothing"
        aborted = await driver.purge_stale_parts(now + HOUR, dry_run=False)
        assert sorted(aborted) == sorted(paths)
        assert await pending(driver) == []
        assert await pending(neighbour) == ["blobs/sha256/cd/cd/data"], "other roots untouched"
        for path in paths:  # aborting never publishes anything
            with pytest.raises(PathNotFoundError):
                await driver.stat(path)
        assert await driver.purge_stale_parts(now + HOUR, dry_run=False) == ()
        await neighbour.purge_stale_parts(now + HOUR, dry_run=False)

    run(main())


def test_an_upload_finished_meanwhile_is_not_an_error(weed: SeaweedFS) -> None:
    driver = make_driver(weed, unique_root("mpu"))

    async def main() -> None:
        upload_id = await abandon(driver, "gone/data")
        key = driver.options.key("gone/data")
        await driver.control.abort_multipart(key, upload_id)  # another node was quicker
        # SeaweedFS accepts a second abort; AWS answers NoSuchUpload, which is PathNotFoundError
        # (skipped by purge_stale_parts). Either way it is no error.
        with contextlib.suppress(PathNotFoundError):
            await driver.control.abort_multipart(key, upload_id)
        assert await driver.purge_stale_parts(time.time() + HOUR, dry_run=False) == ()

    run(main())


def test_the_purger_aborts_them_unless_dry_run_or_read_only(
    weed: SeaweedFS, tmp_path: Path
) -> None:
    driver = make_driver(weed, unique_root("mpu"))
    metadata = SqlMetadata(SqliteDatabase(str(tmp_path / "metadata.db")))
    read_only = [False]

    async def is_read_only() -> bool:
        return read_only[0]

    def purger(*, dry_run: bool) -> UploadPurger:
        actions: list[str] = []
        storage = InstrumentedDriver(driver, lambda _driver, action: actions.append(action))
        return UploadPurger(
            storage, metadata, enabled=True, age_seconds=HOUR, interval_seconds=60,
            dry_run=dry_run, clock=lambda: time.time() + 2 * HOUR, is_read_only=is_read_only,
        )  # fmt: skip

    async def main() -> None:
        await abandon(driver, "blobs/sha256/ef/ef/data")
        assert await purger(dry_run=True).purge_parts_once() == ("blobs/sha256/ef/ef/data",)
        read_only[0] = True
        assert await purger(dry_run=False).purge_parts_once() == ()
        assert await pending(driver) == ["blobs/sha256/ef/ef/data"]
        read_only[0] = False
        assert await purger(dry_run=False).purge_parts_once() == ("blobs/sha256/ef/ef/data",)
        assert await pending(driver) == []

    run(main())


def test_other_drivers_have_nothing_to_abort(tmp_path: Path) -> None:
    async def main() -> None:
        for driver in (MemoryDriver(), FilesystemDriver(str(tmp_path))):
            assert await driver.purge_stale_parts(time.time() + HOUR, dry_run=False) == ()

    run(main())
