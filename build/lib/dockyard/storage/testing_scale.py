"""Suite scenarios about size, appends across writers, publishing and concurrency.

Part of :class:`~dockyard.storage.testing.StorageDriverSuite` (its base class), so every driver
runs them. They model how uploads use a driver: each PATCH request opens its own writer with
``append=True`` (possibly on another node), the true offset comes from ``stat``, a node that
did not see earlier chunks re-reads them to rebuild the hash, and ``move`` publishes. Sizes are
expressed in the driver's ``part_size`` so that drivers writing in parts (S3) cross their
part boundaries with as few bytes as possible.
"""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
from typing import ClassVar

import pytest

from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.testing_tools import MIB, exists, noise, read_all, scenario, write_file

UPLOADS = "dockyard/uploads"
UPLOAD = f"{UPLOADS}/u1/data"
BLOB = "docker/registry/v2/blobs/sha256/ab/abcd/data"
_WRITE = 256 * 1024


async def append_requests(driver: StorageDriver, path: str, chunks: list[bytes]) -> None:
    """One writer per chunk, as successive PATCH requests do; check offsets on the way."""
    stored = (await driver.stat(path)).size if await exists(driver, path) else 0
    for chunk in chunks:
        writer = await driver.writer(path, append=True)
        try:
            assert writer.size == stored, "a new writer starts at the stored size"
            for start in range(0, len(chunk), _WRITE):
                await writer.write(chunk[start : start + _WRITE])
        finally:
            await writer.close()
        stored += len(chunk)
        assert writer.size == stored
        assert (await driver.stat(path)).size == stored


async def rehash(driver: StorageDriver, path: str, size: int) -> bytes:
    """What a node that did not see the earlier chunks does: hash the stored bytes."""
    hasher = hashlib.sha256()
    async for chunk in driver.read(path, 0, size):
        hasher.update(chunk)
    return hasher.digest()


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


async def _gone(driver: StorageDriver, directory: str) -> bool:
    """Nothing is listed below ``directory`` (an empty directory may remain on a filesystem)."""
    try:
        return await driver.list(directory) == []
    except PathNotFoundError:
        return True


class ScaleScenarios:
    """Mixed into StorageDriverSuite, whose ``driver`` fixture the tests take."""

    #: The size in which the driver writes parts (S3: the multipart part size).
    part_size: ClassVar[int] = 5 * MIB

    def sizes(self) -> list[int]:
        part = self.part_size
        return [0, 1, 4096, part - 1, part, part + 1, 2 * part + 12_345]

    def mixed_chunks(self) -> list[bytes]:
        """Appends small and large, empty included, each with its own content."""
        part = self.part_size
        sizes = [1000, 3 * MIB, part + 7, 0, 3, 2 * MIB, part * 2 + 1, 17]
        return [noise(size, seed=n) for n, size in enumerate(sizes)]

    # sizes ----------------------------------------------------------------------------------

    @pytest.mark.parametrize("index", range(7))
    @scenario
    async def test_sizes_round_trip_and_publish(self, driver: StorageDriver, index: int) -> None:
        size = self.sizes()[index]
        data = noise(size, seed=index)
        pieces = [data[i : i + 300_007] for i in range(0, size, 300_007)]
        assert await write_file(driver, UPLOAD, *pieces) == size
        assert (await driver.stat(UPLOAD)).size == size
        assert await read_all(driver, UPLOAD) == data
        await driver.move(UPLOAD, BLOB)
        assert not await exists(driver, UPLOAD)
        assert (await driver.stat(BLOB)).size == size
        assert _sha(await read_all(driver, BLOB)) == _sha(data)
        assert await read_all(driver, BLOB, 0, size) == data

    # appends across writers -------------------------------------------------------------------

    @scenario
    async def test_appends_by_separate_writers(self, driver: StorageDriver) -> None:
        chunks = self.mixed_chunks()
        data = b"".join(chunks)
        await append_requests(driver, UPLOAD, chunks)
        assert await rehash(driver, UPLOAD, len(data)) == _sha(data)
        assert await read_all(driver, UPLOAD) == data
        await driver.move(UPLOAD, BLOB)
        assert _sha(await read_all(driver, BLOB)) == _sha(data)
        assert not await exists(driver, UPLOAD)

    @scenario
    async def test_offset_reads_across_append_boundaries(self, driver: StorageDriver) -> None:
        chunks = self.mixed_chunks()
        data = b"".join(chunks)
        await append_requests(driver, UPLOAD, chunks)
        boundary = 0
        for chunk in chunks:
            boundary += len(chunk)
            for near, span in ((boundary - 1, 2), (boundary, 1), (boundary - 5, 11)):
                offset = max(near, 0)
                length = min(span, len(data) - offset)
                got = await read_all(driver, UPLOAD, offset, length)
                assert got == data[offset : offset + length], (offset, length)
        middle = len(data) // 3
        assert await read_all(driver, UPLOAD, middle) == data[middle:]
        assert await read_all(driver, UPLOAD, middle, middle) == data[middle : 2 * middle]

    @scenario
    async def test_flush_then_more_writes(self, driver: StorageDriver) -> None:
        parts = [noise(n, seed=n) for n in (10, self.part_size + 3, 0, 7)]
        writer = await driver.writer(UPLOAD, append=True)
        try:
            for part in parts:
                await writer.write(part)
                await writer.flush()
                assert (await driver.stat(UPLOAD)).size == writer.size
        finally:
            await writer.close()
        assert await read_all(driver, UPLOAD) == b"".join(parts)

    @scenario
    async def test_writer_without_bytes_keeps_the_file(self, driver: StorageDriver) -> None:
        await append_requests(driver, UPLOAD, [b""])
        assert (await driver.stat(UPLOAD)).size == 0
        await append_requests(driver, UPLOAD, [b"abc", b""])
        assert await driver.get_content(UPLOAD) == b"abc"

    @scenario
    async def test_truncate_appended_file(self, driver: StorageDriver) -> None:
        chunks = [noise(n, seed=n) for n in (10, self.part_size + 5, 20)]
        data = b"".join(chunks)
        await append_requests(driver, UPLOAD, chunks)
        await driver.truncate(UPLOAD, 10 + 1000)
        assert await read_all(driver, UPLOAD) == data[:1010]
        await append_requests(driver, UPLOAD, [b"tail"])
        assert await read_all(driver, UPLOAD) == data[:1010] + b"tail"
        await driver.truncate(UPLOAD, 0)
        assert (await driver.stat(UPLOAD)).size == 0
        await append_requests(driver, UPLOAD, [b"again"])
        assert await driver.get_content(UPLOAD) == b"again"

    # nothing left behind ----------------------------------------------------------------------

    @scenario
    async def test_nothing_left_after_publish_and_cleanup(self, driver: StorageDriver) -> None:
        chunks = self.mixed_chunks()
        await append_requests(driver, UPLOAD, chunks)
        await driver.put_content(f"{UPLOADS}/u1/startedat", b"now")
        await driver.move(UPLOAD, BLOB)
        assert await driver.list(f"{UPLOADS}/u1") == ["startedat"]
        await driver.delete(f"{UPLOADS}/u1")
        assert await _gone(driver, UPLOADS)
        assert await driver.list(BLOB.rsplit("/", 1)[0]) == ["data"]
        assert _sha(await read_all(driver, BLOB)) == _sha(b"".join(chunks))

    @scenario
    async def test_delete_tree_of_appended_files(self, driver: StorageDriver) -> None:
        for name in ("a", "b/c"):
            await append_requests(driver, f"tree/{name}/data", [b"x" * 10, b"y" * 20])
        await driver.put_content("tree-sibling/keep", b"k")
        assert await driver.list("tree") == ["a", "b"]
        assert await driver.list("tree/a") == ["data"]
        await driver.delete("tree/a/data")
        assert await _gone(driver, "tree/a")
        await driver.delete("tree")
        assert await _gone(driver, "tree")
        assert not await exists(driver, "tree/b/c/data")
        assert await driver.get_content("tree-sibling/keep") == b"k"

    # concurrency ----------------------------------------------------------------------------

    @scenario
    async def test_concurrent_writers_and_readers(self, driver: StorageDriver) -> None:
        sizes = [10, MIB + 3, self.part_size + 11, 2 * self.part_size]
        contents = [noise(size, seed=100 + n) for n, size in enumerate(sizes)]
        paths = [f"{UPLOADS}/c{n}/data" for n in range(len(sizes))]
        await asyncio.gather(
            *(write_file(driver, p, c) for p, c in zip(paths, contents, strict=True))
        )
        shared = contents[-1]
        await driver.put_content("shared/data", shared)
        extra = noise(self.part_size + 1, seed=7)
        results = await asyncio.gather(
            *(read_all(driver, "shared/data") for _ in range(4)),
            *(read_all(driver, p) for p in paths),
            read_all(driver, "shared/data", 12_345, MIB),
            append_requests(driver, paths[0], [extra]),
        )
        assert all(r == shared for r in results[:4])
        assert list(results[4 : 4 + len(paths)]) == contents
        assert results[4 + len(paths)] == shared[12_345 : 12_345 + MIB]
        assert await read_all(driver, paths[0]) == contents[0] + extra

    @scenario
    async def test_concurrent_publishes_of_the_same_content(self, driver: StorageDriver) -> None:
        data = noise(self.part_size + 99, seed=3)
        uploads = [f"{UPLOADS}/same{n}/data" for n in range(3)]
        for path in uploads:
            await append_requests(driver, path, [data[:1000], data[1000:]])
        await asyncio.gather(*(driver.move(path, BLOB) for path in uploads))
        assert _sha(await read_all(driver, BLOB)) == _sha(data)
        assert not any([await exists(driver, path) for path in uploads])

    # direct downloads -----------------------------------------------------------------------

    @scenario
    async def test_redirect_url_is_none_or_serves_the_bytes(self, driver: StorageDriver) -> None:
        data = noise(MIB + 5, seed=11)
        await append_requests(driver, UPLOAD, [data[:1000], data[1000:]])
        await driver.move(UPLOAD, BLOB)  # published, as redirect_url requires
        url = await driver.redirect_url(BLOB)
        if url is None:
            return
        assert url.startswith(("http://", "https://"))
        body = await asyncio.to_thread(_fetch, url)
        assert body == data


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - http(s) only
        return bytes(response.read())
