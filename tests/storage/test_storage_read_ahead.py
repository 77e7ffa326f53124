"""Filesystem reads of files not in the page cache (storage/drivers/read_ahead.py).

A blob pushed with O_DIRECT is on disk only; its first GET must read it on a worker thread
(with the kernel's read-ahead doubled for long reads), return exactly the bytes asked for
(whole file or any range), and give back its descriptor however the read ends (finished,
closed early, or its task cancelled while a disk read runs on the thread).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.storage.driver import StorageError
from dockyard.storage.drivers import read_ahead
from dockyard.storage.drivers.filesystem import READ_CHUNK, FilesystemDriver
from dockyard.storage.testing import pattern
from support.pagecache import resident_bytes

MIB = 1 << 20
SIZE = 24 * MIB + 12345  # not a multiple of a chunk or a page
BLOB = "blobs/cold/data"


def _evict(path: Path) -> None:
    """Drop ``path``'s clean pages from the page cache, or skip where that is impossible."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(50):  # pages still under writeback are dropped on a later try
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            if resident_bytes(path) == 0:
                return
            time.sleep(0.1)
        pytest.skip("this filesystem keeps the file in memory (tmpfs?): nothing is cold")
    finally:
        os.close(fd)


@pytest.fixture
def cold(tmp_path: Path) -> Iterator[tuple[FilesystemDriver, bytes, Path]]:
    driver = FilesystemDriver(str(tmp_path / "root"))
    data = pattern(SIZE)
    full = tmp_path / "root" / BLOB
    full.parent.mkdir(parents=True)
    full.write_bytes(data)
    _evict(full)
    yield driver, data, full


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def _collect(driver: FilesystemDriver, offset: int, length: int | None) -> bytes:
    return b"".join([chunk async for chunk in driver.read(BLOB, offset, length)])


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (0, 1),
        (READ_CHUNK - 1, 2),
        (5 * MIB + 7, 9 * MIB + 3),
        (SIZE - 10, None),
        (SIZE - READ_CHUNK - 1, READ_CHUNK + 1),
    ],
)
def test_cold_reads_return_exactly_the_bytes_asked_for(
    cold: tuple[FilesystemDriver, bytes, Path], offset: int, length: int | None
) -> None:
    driver, data, _ = cold
    end = SIZE if length is None else offset + length
    assert asyncio.run(_collect(driver, offset, length)) == data[offset:end]


def test_cold_chunks_are_read_off_the_event_loop(
    cold: tuple[FilesystemDriver, bytes, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    driver, data, _ = cold
    readers: list[bool] = []
    real = os.pread

    def recording(fd: int, length: int, offset: int) -> bytes:
        readers.append(threading.current_thread() is threading.main_thread())
        return real(fd, length, offset)

    monkeypatch.setattr(os, "pread", recording)
    assert asyncio.run(_collect(driver, 0, 4 * MIB)) == data[: 4 * MIB]
    assert not all(readers)  # cold chunks were read on a worker thread, not on the loop


@pytest.fixture
def advice(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int]]:
    """Record (offset, length, advice) of every ``os.posix_fadvise`` call, then make it."""
    seen: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def recording(fd: int, offset: int, length: int, what: int) -> None:
        seen.append((offset, length, what))
        real(fd, offset, length, what)

    monkeypatch.setattr(os, "posix_fadvise", recording)
    return seen


def test_a_long_read_asks_for_sequential_read_ahead(
    cold: tuple[FilesystemDriver, bytes, Path], advice: list[tuple[int, int, int]]
) -> None:
    driver, data, _ = cold
    assert asyncio.run(_collect(driver, MIB, None)) == data[MIB:]
    assert advice == [(MIB, SIZE - MIB, os.POSIX_FADV_SEQUENTIAL)]


def test_a_short_range_keeps_the_default_read_ahead(
    cold: tuple[FilesystemDriver, bytes, Path], advice: list[tuple[int, int, int]]
) -> None:
    driver, data, _ = cold
    assert asyncio.run(_collect(driver, 3 * MIB, MIB)) == data[3 * MIB : 4 * MIB]
    assert advice == []


def test_closing_a_cold_read_early_frees_its_descriptor(
    cold: tuple[FilesystemDriver, bytes, Path],
) -> None:
    driver, data, _ = cold
    before = _open_fds()

    async def two_chunks() -> bytes:
        chunks = driver.read(BLOB)
        got = await anext(chunks) + await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]
        return got

    assert asyncio.run(two_chunks()) == data[: 2 * READ_CHUNK]
    assert _open_fds() == before


def test_cancelling_during_a_disk_read_frees_its_descriptor(
    cold: tuple[FilesystemDriver, bytes, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    driver, _, _ = cold
    before = _open_fds()
    on_thread = threading.Event()
    release = threading.Event()
    real = os.pread

    def slow(fd: int, length: int, offset: int) -> bytes:
        if threading.current_thread() is not threading.main_thread():
            on_thread.set()
            release.wait(10)
        return real(fd, length, offset)

    monkeypatch.setattr(os, "pread", slow)

    async def cancel_mid_read() -> None:
        task = asyncio.create_task(_collect(driver, 0, None))
        while not on_thread.is_set() and not task.done():
            await asyncio.sleep(0.01)
        assert on_thread.is_set(), "the cold read never went to a worker thread"
        task.cancel()
        threading.Timer(0.2, release.set).start()  # close must wait for the thread's read
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_read())
    assert _open_fds() == before


def test_a_read_after_close_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    reader = read_ahead.ReadAheadFile(os.open(path, os.O_RDONLY), 0, 10)
    reader.close()
    with pytest.raises(StorageError, match="after close"):
        reader._read_from_disk(0, 10)
