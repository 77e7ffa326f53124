"""Suite scenarios for the optional direct writer (:meth:`StorageDriver.direct_writer`).

Part of :class:`~dockyard.storage.testing.StorageDriverSuite` (a base class), so every driver
runs them; a driver whose ``direct_writer`` returns None skips them, after the suite checked
that asking is harmless. What they pin down is the data-safety rule the uploads service
relies on: nothing appears at the path before ``commit``, and ``abort`` (or a failure) leaves
the path as it was, whatever was written.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from dockyard.storage.driver import BlobWriter, PathNotFoundError, StorageDriver, StorageError
from dockyard.storage.testing_tools import MIB, exists, noise, read_all, scenario

BLOB = "docker/registry/v2/blobs/sha256/cd/cdef/data"
BLOB_DIR = "docker/registry/v2/blobs/sha256/cd"
_WRITE = 1 * MIB + 4321  # not a divisor of any part size


async def direct(driver: StorageDriver, path: str = BLOB) -> BlobWriter:
    """The driver's direct writer for ``path``, or skip the test if it has none."""
    writer = await driver.direct_writer(path)
    if writer is None:
        pytest.skip(f"{driver.name} has no direct writer (uploads use a path and a move)")
    return writer


async def write_all(writer: BlobWriter, data: bytes) -> None:
    for start in range(0, len(data), _WRITE):
        await writer.write(data[start : start + _WRITE])


async def _listed(driver: StorageDriver, directory: str) -> list[str]:
    try:
        return await driver.list(directory)
    except PathNotFoundError:
        return []


class DirectWriteScenarios:
    """Mixed into StorageDriverSuite, whose ``driver`` fixture the tests take."""

    part_size: ClassVar[int] = 5 * MIB

    def direct_sizes(self) -> list[int]:
        part = self.part_size
        return [0, 1, part - 1, part, 2 * part + 12_345]

    @pytest.mark.parametrize("index", range(5))
    @scenario
    async def test_direct_writer_publishes_only_on_commit(
        self, driver: StorageDriver, index: int
    ) -> None:
        data = noise(self.direct_sizes()[index], seed=40 + index)
        writer = await direct(driver)
        await write_all(writer, data)
        assert writer.size == len(data)
        assert not await exists(driver, BLOB), "nothing is visible before commit"
        assert await _listed(driver, BLOB_DIR) == []
        await writer.commit()
        assert (await driver.stat(BLOB)).size == len(data)
        assert await read_all(driver, BLOB) == data
        await writer.commit()  # a second commit changes nothing
        await writer.abort()  # nor does an abort after the commit
        assert await read_all(driver, BLOB) == data

    @scenario
    async def test_direct_writer_abort_leaves_nothing(self, driver: StorageDriver) -> None:
        writer = await direct(driver)
        await write_all(writer, noise(2 * self.part_size + 1, seed=50))
        await writer.abort()
        await writer.abort()
        assert not await exists(driver, BLOB)
        assert await _listed(driver, BLOB_DIR) == []
        with pytest.raises(StorageError):
            await writer.write(b"more")
        with pytest.raises(StorageError):
            await writer.commit()
        assert not await exists(driver, BLOB), "a refused commit publishes nothing"

    @scenario
    async def test_direct_writer_keeps_the_old_content_until_commit(
        self, driver: StorageDriver
    ) -> None:
        old, new = noise(1000, seed=51), noise(self.part_size + 3, seed=52)
        await driver.put_content(BLOB, old)
        aborted = await direct(driver)
        await write_all(aborted, new)
        assert await driver.get_content(BLOB) == old
        await aborted.abort()
        assert await driver.get_content(BLOB) == old, "an abort keeps what was there"
        replacing = await direct(driver)
        await write_all(replacing, new)
        assert await driver.get_content(BLOB) == old
        await replacing.commit()
        assert await read_all(driver, BLOB) == new

    @scenario
    async def test_direct_writers_of_the_same_content_race(self, driver: StorageDriver) -> None:
        data = noise(self.part_size + 99, seed=53)
        first, second = await direct(driver), await direct(driver)
        await write_all(first, data)
        await write_all(second, data)
        await first.commit()
        await second.abort()  # the loser of a dedupe race
        assert await read_all(driver, BLOB) == data
        third = await direct(driver)
        await write_all(third, data)
        await third.commit()
        await second.abort()
        assert await read_all(driver, BLOB) == data

    @scenario
    async def test_direct_writer_checks_its_path(self, driver: StorageDriver) -> None:
        if not getattr(self, "validates_paths", True):
            pytest.skip("the driver leaves path syntax to its callers")
        writer = await driver.direct_writer("fine/path")
        if writer is not None:
            await writer.abort()
        with pytest.raises(StorageError):
            await driver.direct_writer("../escape")
