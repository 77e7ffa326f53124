"""The filesystem driver: the shared conformance suite plus durability and containment."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.storage.driver import StorageDriver, StorageError
from dockyard.storage.drivers.filesystem import FilesystemDriver
from dockyard.storage.testing import StorageDriverSuite, pattern, read_all, write_file


class TestFilesystemDriver(StorageDriverSuite):
    """The default: big uploads written with O_DIRECT (storage/drivers/direct_io.py)."""

    def make_driver(self, tmp_path: Path) -> StorageDriver:
        return FilesystemDriver(str(tmp_path / "root"))


class TestFilesystemDriverCachedWrites(StorageDriverSuite):
    """``dockyard.directwrites: false``: every upload byte through the page cache."""

    def make_driver(self, tmp_path: Path) -> StorageDriver:
        return FilesystemDriver(str(tmp_path / "root"), direct_writes=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record the path of every file or directory passed to ``os.fsync``."""
    seen: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    yield seen


def test_root_is_created(root: Path) -> None:
    FilesystemDriver(str(root / "nested" / "deeper"))
    assert (root / "nested" / "deeper").is_dir()


def test_paths_map_below_root(root: Path) -> None:
    driver = FilesystemDriver(str(root))
    asyncio.run(driver.put_content("docker/registry/v2/blobs/x/data", b"abc"))
    assert (root / "docker/registry/v2/blobs/x/data").read_bytes() == b"abc"
    assert driver.local_path("a/b") == str(root / "a" / "b")


def test_escape_attempts_write_nothing_outside_root(tmp_path: Path, root: Path) -> None:
    driver = FilesystemDriver(str(root))
    for path in ("../escape", "a/../../escape", "/escape", "..", "./escape"):
        with pytest.raises(StorageError):
            asyncio.run(driver.put_content(path, b"x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    assert not (tmp_path / "escape").exists()
    assert not Path("/escape").exists()


def test_writer_flush_fsyncs_the_file(root: Path, fsyncs: list[str]) -> None:
    driver = FilesystemDriver(str(root))

    async def main() -> None:
        writer = await driver.writer("up/u1/data", append=True)
        await writer.write(b"bytes")
        await writer.flush()
        await writer.close()

    asyncio.run(main())
    assert str(root / "up/u1/data") in fsyncs


def test_move_fsyncs_file_and_destination_directory(root: Path, fsyncs: list[str]) -> None:
    """Publishing is durable by itself: the bytes and the new directory entry are synced."""
    driver = FilesystemDriver(str(root))

    async def main() -> None:
        writer = await driver.writer("uploads/u1/data", append=True)
        await writer.write(b"payload")
        await writer.close()  # deliberately no flush: move must not rely on the caller
        fsyncs.clear()
        await driver.move("uploads/u1/data", "blobs/sha256/ab/abcd/data")

    asyncio.run(main())
    destination = root / "blobs/sha256/ab/abcd"
    assert str(destination) in fsyncs, fsyncs
    synced_files = {p for p in fsyncs if p.endswith("/data")}
    assert synced_files & {str(destination / "data"), str(root / "uploads/u1/data")}, fsyncs


def test_put_content_fsyncs_file_and_directory(root: Path, fsyncs: list[str]) -> None:
    driver = FilesystemDriver(str(root))
    asyncio.run(driver.put_content("meta/file", b"abc"))
    assert str(root / "meta") in fsyncs
    assert any(p.startswith(str(root / "meta" / "file")) for p in fsyncs), fsyncs
    assert [p.name for p in (root / "meta").iterdir()] == ["file"], "no temporary left behind"


def test_published_blob_survives_upload_directory_removal(root: Path) -> None:
    driver = FilesystemDriver(str(root))
    data = pattern(2_500_000, seed=9)

    async def main() -> None:
        await write_file(driver, "dockyard/uploads/u1/data", data)
        await driver.move("dockyard/uploads/u1/data", "docker/registry/v2/blobs/s/data")
        await driver.delete("dockyard/uploads/u1")

    asyncio.run(main())
    assert not (root / "dockyard/uploads/u1").exists()
    assert (root / "docker/registry/v2/blobs/s/data").read_bytes() == data


def test_writes_are_durable_across_reopening(root: Path) -> None:
    data = pattern(1_500_000, seed=10)

    async def first() -> None:
        driver = FilesystemDriver(str(root))
        await write_file(driver, "uploads/u1/data", data[:1_000_000])
        await driver.put_content("small/file", b"small")

    async def second() -> None:
        driver = FilesystemDriver(str(root))
        assert (await driver.stat("uploads/u1/data")).size == 1_000_000
        size = await write_file(driver, "uploads/u1/data", data[1_000_000:], append=True)
        assert size == len(data)
        await driver.move("uploads/u1/data", "blobs/b/data")

    async def third() -> None:
        driver = FilesystemDriver(str(root))
        assert await read_all(driver, "blobs/b/data") == data
        assert await driver.get_content("small/file") == b"small"

    asyncio.run(first())
    asyncio.run(second())
    asyncio.run(third())


def test_foreign_files_below_root_are_readable(root: Path) -> None:
    """A storage root written by someone else (registry:2, an import) reads as-is."""
    (root / "docker/registry/v2/blobs/sha256/aa").mkdir(parents=True)
    (root / "docker/registry/v2/blobs/sha256/aa/data").write_bytes(b"from registry:2")
    driver = FilesystemDriver(str(root))
    assert asyncio.run(driver.get_content("docker/registry/v2/blobs/sha256/aa/data")) == (
        b"from registry:2"
    )


def test_close_waits_for_a_write_still_running_after_cancel(root: Path) -> None:
    """A cancelled request must not close the descriptor under its write's thread."""

    async def scenario() -> tuple[int, bytes]:
        driver = FilesystemDriver(str(root))
        writer = await driver.writer("uploads/u1/data", append=True)
        data = pattern(32 << 20)
        task = asyncio.ensure_future(writer.write(data))
        await asyncio.sleep(0)  # the thread has the chunk
        task.cancel()
        await writer.close()  # waits for the thread, never closes under it
        with pytest.raises(StorageError):
            await writer.write(b"late")
        return writer.size, await read_all(driver, "uploads/u1/data")

    size, stored = asyncio.run(scenario())
    assert size == len(stored)
    assert stored == pattern(32 << 20)[: len(stored)]


def test_large_writes_hand_windows_to_writeback(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every full window is passed to the kernel's writeback, contiguous and in order."""
    from dockyard.storage.drivers import filesystem, writeback

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(filesystem, "start_writeback", lambda fd, off, n: calls.append((off, n)))

    async def scenario() -> None:
        driver = FilesystemDriver(str(root), direct_writes=False)
        writer = await driver.writer("f", append=True)
        for _ in range(5):
            await writer.write(pattern(writeback.WINDOW // 2 + 1))
        await writer.close()

    asyncio.run(scenario())
    assert len(calls) == 2
    assert calls[0][0] == 0
    assert calls[1][0] == calls[0][1]
    assert all(length >= writeback.WINDOW for _, length in calls)
