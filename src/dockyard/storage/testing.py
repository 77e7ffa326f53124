"""The conformance suite every :class:`~dockyard.storage.driver.StorageDriver` must pass.

In the spirit of Distribution's ``registry/storage/driver/testsuites``: one suite, run by every
driver. A driver's test module subclasses :class:`StorageDriverSuite` and builds a fresh,
empty driver for each test::

    class TestFilesystemDriver(StorageDriverSuite):
        def make_driver(self, tmp_path: Path) -> StorageDriver:
            return FilesystemDriver(str(tmp_path / "root"))

Each test runs its scenario in its own event loop (``asyncio.run``), so the suite needs no
pytest plugin. Drivers that validate path syntax themselves (the filesystem driver must, since
a path becomes a file name) keep ``validates_paths = True``; the invalid-path tests are skipped
for the others. The scenarios about sizes, appends across writers, composition and concurrency
live in :mod:`dockyard.storage.testing_scale` and are part of this suite; a driver that writes
in parts sets ``part_size`` so that they cross its part boundaries. The optional direct writer
has its scenarios in :mod:`dockyard.storage.testing_direct` (skipped where it returns None).
"""

from __future__ import annotations

import abc
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar

import pytest

from dockyard.storage.driver import PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.testing_direct import DirectWriteScenarios
from dockyard.storage.testing_scale import ScaleScenarios
from dockyard.storage.testing_tools import (
    LARGE_SIZE,
    MIB,
    exists,
    noise,
    pattern,
    read_all,
    scenario,
    write_file,
)

__all__ = [
    "LARGE_SIZE",
    "MIB",
    "ScaleScenarios",
    "StorageDriverSuite",
    "exists",
    "noise",
    "pattern",
    "read_all",
    "scenario",
    "write_file",
]

INVALID_PATHS: tuple[str, ...] = (
    "",
    "..",
    ".",
    "../escape",
    "a/../../escape",
    "a/./b",
    "a//b",
    "/a/b",
    "a/b/",
    "/",
)


class StorageDriverSuite(ScaleScenarios, DirectWriteScenarios, abc.ABC):
    """Behaviour every storage driver shares. Subclasses provide :meth:`make_driver`."""

    #: Whether the driver itself rejects malformed paths with StorageError.
    validates_paths: ClassVar[bool] = True

    @abc.abstractmethod
    def make_driver(self, tmp_path: Path) -> StorageDriver:
        """A new, empty driver private to one test (``tmp_path`` is unique per test)."""

    @pytest.fixture
    def driver(self, tmp_path: Path) -> StorageDriver:
        return self.make_driver(tmp_path)

    # writer ---------------------------------------------------------------------------------

    @scenario
    async def test_writer_creates_missing_file(self, driver: StorageDriver) -> None:
        writer = await driver.writer("uploads/one/data", append=True)
        try:
            assert writer.size == 0
            await writer.write(b"hello ")
            assert writer.size == 6
            await writer.write(b"world")
            assert writer.size == 11
            await writer.flush()
        finally:
            await writer.close()
        assert writer.size == 11
        assert (await driver.stat("uploads/one/data")).size == 11
        assert await driver.get_content("uploads/one/data") == b"hello world"

    @scenario
    async def test_writer_truncating_open_creates_missing_file(self, driver: StorageDriver) -> None:
        assert await write_file(driver, "fresh/data", b"abc", append=False) == 3
        assert await driver.get_content("fresh/data") == b"abc"

    @scenario
    async def test_writer_empty_file_exists(self, driver: StorageDriver) -> None:
        assert await write_file(driver, "empty/data") == 0
        info = await driver.stat("empty/data")
        assert info.size == 0
        assert await driver.get_content("empty/data") == b""
        assert await read_all(driver, "empty/data") == b""

    @scenario
    async def test_writer_append_continues_after_existing_bytes(
        self, driver: StorageDriver
    ) -> None:
        await write_file(driver, "up/data", b"first-")
        writer = await driver.writer("up/data", append=True)
        try:
            assert writer.size == 6, "size must count bytes present before the writer opened"
            await writer.write(b"second")
            assert writer.size == 12
        finally:
            await writer.close()
        assert await driver.get_content("up/data") == b"first-second"
        assert await write_file(driver, "up/data", b"-third", append=True) == 18
        assert await driver.get_content("up/data") == b"first-second-third"

    @scenario
    async def test_writer_without_append_truncates(self, driver: StorageDriver) -> None:
        await write_file(driver, "up/data", b"old content that is long")
        writer = await driver.writer("up/data", append=False)
        try:
            assert writer.size == 0
            await writer.write(b"new")
            assert writer.size == 3
        finally:
            await writer.close()
        assert await driver.get_content("up/data") == b"new"
        assert (await driver.stat("up/data")).size == 3

    @scenario
    async def test_writer_large_writes_in_pieces(self, driver: StorageDriver) -> None:
        data = pattern(LARGE_SIZE, seed=1)
        pieces = [data[i : i + 700_001] for i in range(0, len(data), 700_001)]
        size = await write_file(driver, "big/data", *pieces)
        assert size == LARGE_SIZE
        assert (await driver.stat("big/data")).size == LARGE_SIZE
        assert await read_all(driver, "big/data") == data

    @scenario
    async def test_writers_on_different_paths_are_independent(self, driver: StorageDriver) -> None:
        first = await driver.writer("a/data", append=True)
        second = await driver.writer("b/data", append=True)
        try:
            await first.write(b"1111")
            await second.write(b"22")
            await first.write(b"11")
        finally:
            await first.close()
            await second.close()
        assert await driver.get_content("a/data") == b"111111"
        assert await driver.get_content("b/data") == b"22"

    # stat -----------------------------------------------------------------------------------

    @scenario
    async def test_stat_missing_path_raises(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFoundError) as info:
            await driver.stat("no/such/file")
        assert isinstance(info.value, StorageError)
        assert info.value.path == "no/such/file"

    @scenario
    async def test_stat_below_a_file_is_missing(self, driver: StorageDriver) -> None:
        await driver.put_content("file", b"x")
        with pytest.raises(PathNotFoundError):
            await driver.stat("file/child")
        await driver.delete("file/child")
        assert await driver.get_content("file") == b"x"

    @scenario
    async def test_stat_reports_size_and_recent_mtime(self, driver: StorageDriver) -> None:
        before = time.time()
        await driver.put_content("some/file", b"12345")
        info = await driver.stat("some/file")
        assert info.path == "some/file"
        assert info.size == 5
        assert abs(info.modified - before) < 600

    # read -----------------------------------------------------------------------------------

    @scenario
    async def test_read_whole_file(self, driver: StorageDriver) -> None:
        await driver.put_content("r/data", b"0123456789")
        assert await read_all(driver, "r/data") == b"0123456789"

    @scenario
    async def test_read_missing_path_raises(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFoundError):
            await read_all(driver, "r/missing")

    @scenario
    async def test_read_offset_and_length(self, driver: StorageDriver) -> None:
        data = b"0123456789"
        await driver.put_content("r/data", data)
        assert await read_all(driver, "r/data", 3) == data[3:]
        assert await read_all(driver, "r/data", 3, 4) == data[3:7]
        assert await read_all(driver, "r/data", 0, 10) == data
        assert await read_all(driver, "r/data", 9, 1) == b"9"
        assert await read_all(driver, "r/data", 5, 0) == b""
        assert await read_all(driver, "r/data", 10) == b""

    @scenario
    async def test_read_large_content_across_chunks(self, driver: StorageDriver) -> None:
        data = pattern(LARGE_SIZE, seed=2)
        await write_file(driver, "big/data", data)
        chunks = [chunk async for chunk in driver.read("big/data")]
        assert all(chunks), "a read must not yield empty chunks"
        assert len(chunks) >= 2, "large content is streamed, not returned in one piece"
        assert b"".join(chunks) == data
        assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(data).digest()

    @scenario
    async def test_read_large_content_ranges(self, driver: StorageDriver) -> None:
        data = pattern(LARGE_SIZE, seed=3)
        await write_file(driver, "big/data", data)
        ranges = [
            (MIB - 10, 20),  # straddles the first chunk boundary
            (MIB, MIB),  # exactly one chunk, aligned
            (1, 2 * MIB + 5),  # unaligned, crosses two boundaries
            (3 * MIB - 1, None),  # to the end from just before the last boundary
            (LARGE_SIZE - 1, 1),
        ]
        for offset, length in ranges:
            end = None if length is None else offset + length
            got = await read_all(driver, "big/data", offset, length)
            assert got == data[offset:end], (offset, length)

    # get_content / put_content ------------------------------------------------------------

    @scenario
    async def test_put_then_get_content(self, driver: StorageDriver) -> None:
        data = bytes(range(256)) * 4
        await driver.put_content("deep/nested/dir/file", data)
        assert await driver.get_content("deep/nested/dir/file") == data
        assert (await driver.stat("deep/nested/dir/file")).size == len(data)

    @scenario
    async def test_put_content_overwrites(self, driver: StorageDriver) -> None:
        await driver.put_content("f", b"a much longer first version")
        await driver.put_content("f", b"short")
        assert await driver.get_content("f") == b"short"
        assert (await driver.stat("f")).size == 5
        await driver.put_content("f", b"")
        assert await driver.get_content("f") == b""

    @scenario
    async def test_get_content_missing_raises(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFoundError):
            await driver.get_content("missing/file")

    @scenario
    async def test_put_content_visible_to_read_and_writer(self, driver: StorageDriver) -> None:
        await driver.put_content("f", b"abc")
        assert await read_all(driver, "f") == b"abc"
        assert await write_file(driver, "f", b"def", append=True) == 6
        assert await driver.get_content("f") == b"abcdef"

    # move -----------------------------------------------------------------------------------

    @scenario
    async def test_move_publishes_destination_and_removes_source(
        self, driver: StorageDriver
    ) -> None:
        data = pattern(LARGE_SIZE, seed=4)
        await write_file(driver, "uploads/u1/data", data)
        await driver.move("uploads/u1/data", "blobs/sha256/ab/abcdef/data")
        assert not await exists(driver, "uploads/u1/data")
        assert (await driver.stat("blobs/sha256/ab/abcdef/data")).size == len(data)
        assert await read_all(driver, "blobs/sha256/ab/abcdef/data") == data
        with pytest.raises(PathNotFoundError):
            await driver.get_content("uploads/u1/data")

    @scenario
    async def test_move_missing_source_raises(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFoundError):
            await driver.move("uploads/none/data", "blobs/x/data")
        assert not await exists(driver, "blobs/x/data")

    @scenario
    async def test_move_replaces_existing_destination(self, driver: StorageDriver) -> None:
        await driver.put_content("dst/data", b"the old, longer destination content")
        await driver.put_content("src/data", b"new")
        await driver.move("src/data", "dst/data")
        assert await driver.get_content("dst/data") == b"new"
        assert (await driver.stat("dst/data")).size == 3
        assert not await exists(driver, "src/data")

    @scenario
    async def test_move_leaves_siblings_alone(self, driver: StorageDriver) -> None:
        await driver.put_content("up/a", b"a")
        await driver.put_content("up/b", b"b")
        await driver.move("up/a", "pub/a")
        assert await driver.get_content("up/b") == b"b"
        assert await driver.get_content("pub/a") == b"a"

    @scenario
    async def test_upload_directory_can_be_deleted_after_move(self, driver: StorageDriver) -> None:
        await write_file(driver, "dockyard/uploads/u1/data", b"payload")
        await driver.move("dockyard/uploads/u1/data", "blobs/p/data")
        await driver.delete("dockyard/uploads/u1")
        assert await driver.get_content("blobs/p/data") == b"payload"
        assert not await exists(driver, "dockyard/uploads/u1/data")

    # delete ---------------------------------------------------------------------------------

    @scenario
    async def test_delete_file(self, driver: StorageDriver) -> None:
        await driver.put_content("d/file", b"x")
        await driver.put_content("d/other", b"y")
        await driver.delete("d/file")
        assert not await exists(driver, "d/file")
        assert await driver.get_content("d/other") == b"y"

    @scenario
    async def test_delete_directory_tree(self, driver: StorageDriver) -> None:
        for path in ("tree/a", "tree/b/c", "tree/b/d/e", "tree/f/g"):
            await driver.put_content(path, path.encode())
        await driver.put_content("tree2/keep", b"k")
        await driver.put_content("treeish", b"k")
        await driver.delete("tree")
        for path in ("tree/a", "tree/b/c", "tree/b/d/e", "tree/f/g"):
            assert not await exists(driver, path), path
        # a shared name prefix is not a subtree
        assert await driver.get_content("tree2/keep") == b"k"
        assert await driver.get_content("treeish") == b"k"

    @scenario
    async def test_delete_subtree_only(self, driver: StorageDriver) -> None:
        await driver.put_content("root/x/one", b"1")
        await driver.put_content("root/y/two", b"2")
        await driver.delete("root/x")
        assert not await exists(driver, "root/x/one")
        assert await driver.get_content("root/y/two") == b"2"

    @scenario
    async def test_delete_missing_path_is_not_an_error(self, driver: StorageDriver) -> None:
        await driver.delete("never/existed")
        await driver.delete("never")
        await driver.put_content("once", b"x")
        await driver.delete("once")
        await driver.delete("once")
        assert not await exists(driver, "once")

    # truncate -------------------------------------------------------------------------------

    @scenario
    async def test_truncate_drops_trailing_bytes(self, driver: StorageDriver) -> None:
        await write_file(driver, "up/data", b"0123456789")
        await driver.truncate("up/data", 4)
        assert (await driver.stat("up/data")).size == 4
        assert await driver.get_content("up/data") == b"0123"
        await driver.truncate("up/data", 0)
        assert await driver.get_content("up/data") == b""

    @scenario
    async def test_truncate_then_append_continues_at_new_end(self, driver: StorageDriver) -> None:
        await write_file(driver, "up/data", b"committed+garbage")
        await driver.truncate("up/data", len(b"committed"))
        writer = await driver.writer("up/data", append=True)
        try:
            assert writer.size == 9
            await writer.write(b"+more")
        finally:
            await writer.close()
        assert await driver.get_content("up/data") == b"committed+more"

    @scenario
    async def test_truncate_to_current_size_is_a_no_op(self, driver: StorageDriver) -> None:
        await driver.put_content("f", b"abc")
        await driver.truncate("f", 3)
        assert await driver.get_content("f") == b"abc"

    @scenario
    async def test_truncate_missing_raises(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFoundError):
            await driver.truncate("no/file", 0)

    # local_path -----------------------------------------------------------------------------

    @scenario
    async def test_local_path_is_none_or_the_file(self, driver: StorageDriver) -> None:
        data = pattern(4096, seed=5)
        await write_file(driver, "lp/data", data)
        local = driver.local_path("lp/data")
        if local is None:
            return
        assert os.path.isfile(local)
        with open(local, "rb") as handle:
            assert handle.read() == data

    # listing --------------------------------------------------------------------------------

    @scenario
    async def test_list_direct_children(self, driver: StorageDriver) -> None:
        for path in ("tree/b/file", "tree/a", "tree/c/deep/er", "other/x"):
            await driver.put_content(path, b"x")
        assert await driver.list("tree") == ["a", "b", "c"]
        assert await driver.list("tree/c") == ["deep"]
        await driver.delete("tree/c")
        assert await driver.list("tree") == ["a", "b"]

    @scenario
    async def test_list_missing_directory(self, driver: StorageDriver) -> None:
        with pytest.raises(PathNotFoundError):
            await driver.list("no/such/dir")

    # invalid paths --------------------------------------------------------------------------

    @scenario
    async def test_invalid_paths_rejected(self, driver: StorageDriver) -> None:
        if not self.validates_paths:
            pytest.skip(f"{type(self).__name__} does not validate path syntax")
        await driver.put_content("valid/file", b"v")
        for path in INVALID_PATHS:
            await _check_rejected(driver, path)
        assert await driver.get_content("valid/file") == b"v"
        assert not await exists(driver, "valid/target")


async def _check_rejected(driver: StorageDriver, path: str) -> None:
    """Every operation on ``path`` raises StorageError (not PathNotFoundError)."""
    operations: dict[str, Callable[[], Awaitable[object]]] = {
        "writer(append)": lambda: driver.writer(path, append=True),
        "writer(truncate)": lambda: driver.writer(path, append=False),
        "stat": lambda: driver.stat(path),
        "read": lambda: read_all(driver, path),
        "get_content": lambda: driver.get_content(path),
        "put_content": lambda: driver.put_content(path, b"x"),
        "move(source)": lambda: driver.move(path, "valid/target"),
        "move(destination)": lambda: driver.move("valid/file", path),
        "delete": lambda: driver.delete(path),
        "truncate": lambda: driver.truncate(path, 0),
        "redirect_url": lambda: driver.redirect_url(path),
    }
    for name, operation in operations.items():
        with pytest.raises(StorageError) as info:
            await operation()
        assert not isinstance(info.value, PathNotFoundError), (name, path)
    with pytest.raises(StorageError):
        driver.local_path(path)
