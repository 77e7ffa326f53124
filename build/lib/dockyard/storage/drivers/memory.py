"""In-memory storage for tests and throwaway registries (``storage: inmemory``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from dockyard.storage.driver import FileInfo, PathNotFoundError, StorageError, check_path

READ_CHUNK = 1 << 20


class MemoryWriter:
    def __init__(self, files: dict[str, bytearray], path: str) -> None:
        self._buffer = files[path]

    @property
    def size(self) -> int:
        return len(self._buffer)

    async def write(self, data: bytes) -> None:
        self._buffer += data

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemoryBlobWriter:
    """Collects the bytes aside; ``commit`` puts them at the path in one step."""

    def __init__(self, driver: MemoryDriver, path: str) -> None:
        self._driver = driver
        self._path = path
        self._buffer: bytearray | None = bytearray()
        self._committed = False

    @property
    def size(self) -> int:
        return len(self._buffer or b"")

    async def write(self, data: bytes) -> None:
        if self._buffer is None or self._committed:
            raise StorageError("write to a committed or aborted writer")
        self._buffer += data

    async def commit(self) -> None:
        if self._buffer is None:
            raise StorageError("cannot commit an aborted writer")
        if not self._committed:
            self._committed = True
            await self._driver.put_content(self._path, bytes(self._buffer))

    async def abort(self) -> None:
        if not self._committed:
            self._buffer = None


class MemoryDriver:
    """Keeps every file in a dict; lost when the process exits."""

    name = "inmemory"

    def __init__(self) -> None:
        self._files: dict[str, bytearray] = {}
        self._mtimes: dict[str, float] = {}

    async def writer(self, path: str, *, append: bool) -> MemoryWriter:
        check_path(path)
        if not append or path not in self._files:
            self._files[path] = bytearray()
        self._mtimes[path] = time.time()
        return MemoryWriter(self._files, path)

    async def direct_writer(self, path: str) -> MemoryBlobWriter:
        check_path(path)
        return MemoryBlobWriter(self, path)

    def _get(self, path: str) -> bytearray:
        try:
            return self._files[path]
        except KeyError:
            raise PathNotFoundError(path) from None

    async def stat(self, path: str) -> FileInfo:
        check_path(path)
        return FileInfo(path, len(self._get(path)), self._mtimes.get(path, 0.0))

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        check_path(path)
        data = self._get(path)
        end = len(data) if length is None else offset + length
        for start in range(offset, end, READ_CHUNK):
            yield bytes(data[start : min(start + READ_CHUNK, end)])

    async def get_content(self, path: str) -> bytes:
        check_path(path)
        return bytes(self._get(path))

    async def put_content(self, path: str, data: bytes) -> None:
        check_path(path)
        self._files[path] = bytearray(data)
        self._mtimes[path] = time.time()

    async def move(self, source: str, destination: str) -> None:
        check_path(source)
        check_path(destination)
        self._files[destination] = (
            self._files.pop(source) if source in self._files else self._get(source)
        )
        self._mtimes[destination] = time.time()

    async def delete(self, path: str) -> None:
        check_path(path)
        prefix = path.rstrip("/") + "/"
        for key in [k for k in self._files if k == path or k.startswith(prefix)]:
            del self._files[key]
            self._mtimes.pop(key, None)

    async def list(self, path: str) -> list[str]:
        check_path(path)
        prefix = path + "/"
        names = {k[len(prefix) :].split("/", 1)[0] for k in self._files if k.startswith(prefix)}
        if not names:
            raise PathNotFoundError(path)
        return sorted(names)

    async def truncate(self, path: str, size: int) -> None:
        check_path(path)
        del self._get(path)[size:]

    def local_path(self, path: str) -> str | None:
        check_path(path)
        return None

    async def redirect_url(self, path: str) -> str | None:
        check_path(path)
        return None

    async def purge_stale_parts(self, older_than: float, *, dry_run: bool) -> tuple[str, ...]:
        """Nothing to abort: the process keeps nothing half-written."""
        return ()
