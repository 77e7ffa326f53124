"""Filesystem uploads written with O_DIRECT (storage/drivers/direct_io.py).

The conformance suite runs the driver in both modes (test_storage_filesystem.py); these
tests pin what is particular to direct writes: alignment across appends that end anywhere,
whole buffers really bypassing the page cache, the fallbacks when a filesystem refuses
O_DIRECT, and what a failed write leaves behind.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import mmap
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dockyard.bootstrap import build_storage
from dockyard.config.loader import load_settings
from dockyard.storage.driver import StorageError
from dockyard.storage.drivers import direct_io
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.testing import pattern, read_all
from support.pagecache import resident_bytes

MIB = 1 << 20
UPLOAD = "_uploads/u1/data"


def _before_each_pwrite(monkeypatch: pytest.MonkeyPatch, hook: Callable[[int, int], None]) -> None:
    """Call ``hook(fd, offset)`` before every ``os.pwrite`` (it may raise, sleep or record)."""
    real_pwrite = os.pwrite

    def wrapped(fd: int, data: bytes | memoryview, offset: int) -> int:
        hook(fd, offset)
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", wrapped)


async def _append(driver: FilesystemDriver, data: bytes, pieces: list[int]) -> int:
    """Append ``data`` in ``pieces`` through one writer; the writer's final size."""
    writer = await driver.writer(UPLOAD, append=True)
    try:
        offset = 0
        for length in pieces:
            await writer.write(data[offset : offset + length])
            offset += length
        assert offset == len(data)
    finally:
        await writer.close()
    return writer.size


def test_appends_ending_anywhere_round_trip(tmp_path: Path) -> None:
    """Writers that start and stop at unaligned offsets, with writes straddling the 4 MiB
    buffers, leave exactly the bytes sent, in order."""
    rng = random.Random(7)
    data = pattern(21 * MIB + 4097)
    cuts = sorted({0, len(data), 1, 4095, 4 * MIB - 1, 4 * MIB + 1, 9 * MIB + 3, 17 * MIB})
    driver = FilesystemDriver(str(tmp_path / "root"))

    async def scenario() -> list[int]:
        sizes = []
        for start, end in itertools.pairwise(cuts):
            part = data[start:end]
            pieces = []
            left = len(part)
            while left:
                pieces.append(min(left, rng.choice([1, 511, 65536, 400_000, 5 * MIB])))
                left -= pieces[-1]
            sizes.append(await _append(driver, part, pieces))
        return sizes

    sizes = asyncio.run(scenario())
    assert sizes == cuts[1:]
    if shutil.which("fincore"):
        # The appends stayed aligned, so O_DIRECT took every whole buffer (4-8, 9-13, 13-17
        # and 17-21 MiB); only 0-4 MiB (never one whole buffer) and 8-9 MiB were cached. Had
        # alignment been lost, every write would have fallen back to the cache: 21 MiB.
        assert resident_bytes(tmp_path / "root" / UPLOAD) <= 6 * MIB
    assert (tmp_path / "root" / UPLOAD).read_bytes() == data


@pytest.mark.skipif(shutil.which("fincore") is None, reason="needs util-linux fincore")
def test_whole_buffers_bypass_the_page_cache(tmp_path: Path) -> None:
    """With direct writes only the last, partial buffer is cached; without, everything is."""
    data = pattern(16 * MIB + 100)

    async def write(driver: FilesystemDriver) -> None:
        await _append(driver, data, [MIB] * 16 + [100])

    direct = FilesystemDriver(str(tmp_path / "direct"))
    cached = FilesystemDriver(str(tmp_path / "cached"), direct_writes=False)
    asyncio.run(write(direct))
    asyncio.run(write(cached))
    assert resident_bytes(tmp_path / "direct" / UPLOAD) <= 4 * MIB
    assert resident_bytes(tmp_path / "cached" / UPLOAD) >= 16 * MIB
    assert (tmp_path / "direct" / UPLOAD).read_bytes() == data


def test_filesystem_refusing_o_direct_at_open_is_written_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def refusing(path: str, flags: int, *args: int) -> int:
        if flags & direct_io._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    data = pattern(9 * MIB + 5)
    size = asyncio.run(_append(FilesystemDriver(str(tmp_path / "root")), data, [3 * MIB] * 3 + [5]))
    assert size == len(data)
    assert (tmp_path / "root" / UPLOAD).read_bytes() == data


def test_einval_on_a_direct_write_falls_back_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that wants another alignment refuses the write itself: it is retried
    through the page cache and later buffers follow suit (only writes already on their way
    when the first was refused try O_DIRECT)."""
    driver = FilesystemDriver(str(tmp_path / "root"))
    refused: list[int] = []

    async def scenario() -> int:
        writer = await driver.writer(UPLOAD, append=True)
        direct_fd = writer._direct_fd  # type: ignore[attr-defined]

        def picky(fd: int, offset: int) -> None:
            if fd == direct_fd:
                refused.append(offset)
                raise OSError(errno.EINVAL, "Invalid argument")

        _before_each_pwrite(monkeypatch, picky)
        try:
            for _ in range(direct_io.DEPTH + 3):
                await writer.write(pattern(4 * MIB))
        finally:
            await writer.close()
        return writer.size

    buffers = direct_io.DEPTH + 3
    assert asyncio.run(scenario()) == buffers * 4 * MIB
    assert 0 in refused
    assert all(offset < direct_io.DEPTH * 4 * MIB for offset in refused)
    assert (tmp_path / "root" / UPLOAD).read_bytes() == pattern(4 * MIB) * buffers


def test_failed_write_reports_what_the_file_holds_and_refuses_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = FilesystemDriver(str(tmp_path / "root"))

    def full_disk_on_second(fd: int, offset: int) -> None:
        if offset == 4 * MIB:
            raise OSError(errno.ENOSPC, "No space left on device")

    async def scenario() -> int:
        writer = await driver.writer(UPLOAD, append=True)
        _before_each_pwrite(monkeypatch, full_disk_on_second)
        try:
            with pytest.raises(StorageError, match="No space"):
                for _ in range(4):
                    await writer.write(pattern(4 * MIB))
            with pytest.raises(StorageError):
                await writer.write(b"more")
        finally:
            await writer.close()
        return writer.size

    size = asyncio.run(scenario())
    stored = (tmp_path / "root" / UPLOAD).read_bytes()
    assert size == len(stored) == 4 * MIB  # the first buffer landed, the second did not
    assert stored == pattern(4 * MIB)


def test_directwrites_setting_reaches_the_driver(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path}\n")
    default = build_storage(load_settings(str(config), {}))
    off = {"REGISTRY_DOCKYARD_DIRECTWRITES": "false"}
    turned_off = build_storage(load_settings(str(config), off))
    assert isinstance(default, FilesystemDriver) and default.direct_writes
    assert isinstance(turned_off, FilesystemDriver) and not turned_off.direct_writes


def test_reads_see_every_byte_written_so_far(tmp_path: Path) -> None:
    """After close (the end of a PATCH) a reader sees the whole upload, buffered tail too."""
    driver = FilesystemDriver(str(tmp_path / "root"))
    data = pattern(5 * MIB + 3)

    async def scenario() -> bytes:
        await _append(driver, data, [5 * MIB + 3])
        return await read_all(driver, UPLOAD)

    assert asyncio.run(scenario()) == data


def test_close_while_a_write_waits_for_its_buffer_leaves_no_write_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request cancelled twice can leave a write() waiting for the buffer in flight while
    close() runs. close waits for that write to end, then writes everything out; and if
    close itself is cancelled meanwhile, the write stops (the buffers went back to the pool,
    maybe to another writer) and size is what the file holds."""
    driver = FilesystemDriver(str(tmp_path / "root"))
    data = pattern((direct_io.DEPTH + 1) * 4 * MIB + 10)

    async def scenario(cancel_close: bool) -> tuple[int, BaseException | None, Path]:
        path = f"_uploads/{int(cancel_close)}/data"
        writer = await driver.writer(path, append=True)
        direct_fd = writer._direct_fd  # type: ignore[attr-defined]

        def slow(fd: int, offset: int) -> None:
            if fd == direct_fd:
                time.sleep(0.3)

        _before_each_pwrite(monkeypatch, slow)
        writing = asyncio.ensure_future(writer.write(data))
        await asyncio.sleep(0.1)  # DEPTH buffers are on their way, the next waits for the first
        closing = asyncio.ensure_future(writer.close())
        if cancel_close:
            await asyncio.sleep(0.05)
            closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        outcome = (await asyncio.gather(writing, return_exceptions=True))[0]
        error = outcome if isinstance(outcome, BaseException) else None
        return writer.size, error, tmp_path / "root" / path

    size, error, path = asyncio.run(scenario(cancel_close=False))
    assert error is None and size == len(data) and path.read_bytes() == data

    size, error, path = asyncio.run(scenario(cancel_close=True))
    stored = path.read_bytes()
    assert isinstance(error, StorageError)
    assert size == len(stored) < len(data)
    assert stored == data[: len(stored)]


def test_flush_then_close_writes_the_tail_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = FilesystemDriver(str(tmp_path / "root"))
    cached_writes: list[int] = []

    async def scenario() -> None:
        writer = await driver.writer(UPLOAD, append=True)
        cached_fd = writer._fd  # type: ignore[attr-defined]

        def counting(fd: int, offset: int) -> None:
            if fd == cached_fd:
                cached_writes.append(offset)

        _before_each_pwrite(monkeypatch, counting)
        await writer.write(pattern(4 * MIB + 100))
        await writer.flush()
        await writer.close()

    asyncio.run(scenario())
    assert cached_writes == [4 * MIB]
    assert (tmp_path / "root" / UPLOAD).read_bytes() == pattern(4 * MIB + 100)


def test_a_buffer_still_viewed_is_dropped_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    """A traceback can keep a view of a buffer alive; with the pool full, closing it would
    raise BufferError in place of the real error."""
    monkeypatch.setattr(direct_io, "_pool", [direct_io._take_buffer() for _ in range(4)])
    buffer = direct_io._take_buffer()
    view = memoryview(buffer)
    direct_io._give_back(buffer)  # must not raise
    assert len(direct_io._pool) == direct_io._POOL_MAX
    view.release()


def test_buffers_in_flight_at_once_land_at_their_offsets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEPTH whole buffers are written at the same time and finish in any order; the file
    holds the bytes in the order they were sent."""
    driver = FilesystemDriver(str(tmp_path / "root"))
    data = pattern(10 * 4 * MIB + 777)
    rng = random.Random(3)
    lock = threading.Lock()
    running = 0
    most = 0

    async def scenario() -> int:
        writer = await driver.writer(UPLOAD, append=True)
        direct_fd = writer._direct_fd  # type: ignore[attr-defined]

        def jittery(fd: int, offset: int) -> None:
            nonlocal running, most
            if fd != direct_fd:
                return
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(rng.choice([0.0, 0.01, 0.04]))  # later buffers may land first
            with lock:
                running -= 1

        _before_each_pwrite(monkeypatch, jittery)
        try:
            for start in range(0, len(data), 3 * MIB):
                await writer.write(data[start : start + 3 * MIB])
            await writer.flush()
        finally:
            await writer.close()
        return writer.size

    assert asyncio.run(scenario()) == len(data)
    assert most == direct_io.DEPTH
    assert (tmp_path / "root" / UPLOAD).read_bytes() == data


def test_a_failed_write_behind_a_landed_one_leaves_no_hole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buffer at 4 MiB fails after the one at 8 MiB landed: the request sees the error,
    the file is cut back to the 4 MiB stored without a gap, and a later append (the next
    PATCH) continues from there."""
    driver = FilesystemDriver(str(tmp_path / "root"))
    first = pattern(4 * MIB * (direct_io.DEPTH + 2))

    async def scenario() -> tuple[int, int]:
        writer = await driver.writer(UPLOAD, append=True)
        direct_fd = writer._direct_fd  # type: ignore[attr-defined]

        def slow_failure(fd: int, offset: int) -> None:
            if fd == direct_fd and offset == 4 * MIB:
                time.sleep(0.2)
                raise OSError(errno.EIO, "Input/output error")

        _before_each_pwrite(monkeypatch, slow_failure)
        try:
            with pytest.raises(StorageError, match="Input/output"):
                await writer.write(first)
                await writer.flush()
        finally:
            await writer.close()
        monkeypatch.undo()
        resumed = await _append(driver, first[writer.size :], [len(first) - writer.size])
        return writer.size, resumed

    failed_size, resumed_size = asyncio.run(scenario())
    assert failed_size == 4 * MIB
    assert resumed_size == len(first)
    assert (tmp_path / "root" / UPLOAD).read_bytes() == first


def test_a_writer_holds_at_most_depth_plus_one_buffers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However slow the disk and however much arrives, memory per upload stays bounded."""
    driver = FilesystemDriver(str(tmp_path / "root"))
    taken = 0
    most_taken = 0
    real_take, real_give = direct_io._take_buffer, direct_io._give_back

    def take() -> mmap.mmap:
        nonlocal taken, most_taken
        taken += 1
        most_taken = max(most_taken, taken)
        return real_take()

    def give(buffer: mmap.mmap) -> None:
        nonlocal taken
        taken -= 1
        real_give(buffer)

    monkeypatch.setattr(direct_io, "_take_buffer", take)
    monkeypatch.setattr(direct_io, "_give_back", give)
    _before_each_pwrite(monkeypatch, lambda fd, offset: time.sleep(0.005))
    most_held = 0

    async def scenario() -> None:
        nonlocal most_held
        writer = await driver.writer(UPLOAD, append=True)
        try:
            for _ in range(16):
                await writer.write(pattern(3 * MIB))
                most_held = max(most_held, writer.buffers_held)  # type: ignore[attr-defined]
        finally:
            await writer.close()

    asyncio.run(scenario())
    assert most_taken == most_held == direct_io.DEPTH + 1
    assert taken == 0  # all given back at close
    assert (tmp_path / "root" / UPLOAD).read_bytes() == pattern(3 * MIB) * 16
