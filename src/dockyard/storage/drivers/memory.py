"""In-memory storage for tests and throwaway registries (``storage: inmemory``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from dockyard.storage.driver import FileInfo, PathNotFoundError

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


class MemoryDriver:
    """Keeps every file in a dict; lost when the process exits."""

    name = "inmemory"

    def __init__(self) -> None:
        self._files: dict[str, bytearray] = {}
        self._mtimes: dict[str, float] = {}

    async def writer(self, path: str, *, append: bool) -> MemoryWriter:
        if not append or path not in self._files:
            self._files[path] = bytearray()
        self._mtimes[path] = time.time()
        return MemoryWriter(self._files, path)

    def _get(self, path: str) -> bytearray:
        try:
            return self._files[path]
        except KeyError:
            raise PathNotFoundError(path) from None

    async def stat(self, path: str) -> FileInfo:
        return FileInfo(path, len(self._get(path)), self._mtimes.get(path, 0.0))

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        data = self._get(path)
        end = len(data) if length is None else offset + length
        for start in range(offset, end, READ_CHUNK):
            yield bytes(data[start : min(start + READ_CHUNK, end)])

    async def get_content(self, path: str) -> bytes:
        return bytes(self._get(path))

    async def put_content(self, path: str, data: bytes) -> None:
        self._files[path] = bytearray(data)
        self._mtimes[path] = time.time()

    async def move(self, source: str, destination: str) -> None:
        self._files[destination] = (
            self._files.pop(source) if source in self._files else self._get(source)
        )
        self._mtimes[destination] = time.time()

    async def delete(self, path: str) -> None:
        prefix = path.rstrip("/") + "/"
        for key in [k for k in self._files if k == path or k.startswith(prefix)]:
            del self._files[key]
            self._mtimes.pop(key, None)

    async def truncate(self, path: str, size: int) -> None:
        del self._get(path)[size:]

    def local_path(self, path: str) -> str | None:
        return None
