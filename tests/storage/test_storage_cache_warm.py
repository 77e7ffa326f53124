"""A blob published from a direct-write upload is read into the page cache behind the push
(storage/drivers/cache_warm.py), so the first GET is served from memory; with direct writes
off (everything went through the cache already) nothing is read again."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.storage.drivers import cache_warm
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.testing import pattern
from support.pagecache import resident_bytes

MIB = 1 << 20
UPLOAD = "_uploads/u1/data"
BLOB = "blobs/sha256/ab/abcd/data"

pytestmark = pytest.mark.skipif(shutil.which("fincore") is None, reason="needs util-linux fincore")


async def _upload_and_publish(driver: FilesystemDriver, data: bytes) -> None:
    writer = await driver.writer(UPLOAD, append=False)
    for start in range(0, len(data), MIB):
        await writer.write(data[start : start + MIB])
    await writer.close()
    await driver.move(UPLOAD, BLOB)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # bounded; never a timing assertion
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_published_direct_write_is_read_into_the_page_cache(tmp_path: Path) -> None:
    driver = FilesystemDriver(str(tmp_path / "root"))
    if driver.warmer is None:
        pytest.skip("this filesystem refuses O_DIRECT: uploads are cached as written")
    data = pattern(16 * MIB + 4321)
    asyncio.run(_upload_and_publish(driver, data))
    blob = tmp_path / "root" / BLOB
    _wait_for(lambda: driver.warmer is not None and driver.warmer.warmed == 1, "the warmer")
    assert resident_bytes(blob) >= len(data)
    assert blob.read_bytes() == data


def test_without_direct_writes_nothing_is_warmed(tmp_path: Path) -> None:
    driver = FilesystemDriver(str(tmp_path / "root"), direct_writes=False)
    assert driver.warmer is None
    asyncio.run(_upload_and_publish(driver, pattern(8 * MIB)))
    assert (tmp_path / "root" / BLOB).read_bytes() == pattern(8 * MIB)


def test_small_files_are_left_alone_and_a_full_queue_skips(tmp_path: Path) -> None:
    warmer = cache_warm.CacheWarmer()
    warmer.warm(str(tmp_path / "small"), cache_warm.WARM_FROM - 1)
    assert warmer._thread is None  # nothing queued, no thread started
    missing = str(tmp_path / "missing")
    for _ in range(cache_warm.QUEUE_LIMIT * 3):  # never blocks, whatever the backlog
        warmer.warm(missing, cache_warm.WARM_FROM)
    _wait_for(warmer._pending.empty, "the queue to drain")
    assert warmer.warmed == 0  # a file gone meanwhile is skipped quietly


def test_a_file_too_big_for_memory_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big"
    path.write_bytes(pattern(8 * MIB))
    monkeypatch.setattr(cache_warm, "_available_memory", lambda: 16 * MIB)
    assert not cache_warm.read_through(str(path), bytearray(MIB))
    monkeypatch.setattr(cache_warm, "_available_memory", lambda: 64 * MIB)
    assert cache_warm.read_through(str(path), bytearray(MIB))
    assert os.path.getsize(path) == 8 * MIB
