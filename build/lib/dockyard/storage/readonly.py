"""A StorageDriver wrapper that only reads: for roots dockyard must never change.

``dockyard import`` reads a registry:2 root that is not dockyard's own storage (the bytes are
copied into dockyard's storage). Wrapping that root's driver here makes any write, move or
delete fail loudly instead of touching the source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dockyard.storage.driver import FileInfo, FileWriter, StorageDriver, StorageError


class ReadOnlyStorageError(StorageError):
    """A write was attempted on a read-only storage root."""


class ReadOnlyDriver:
    """Delegates reads to ``inner``; refuses everything that would change it."""

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.name = f"{inner.name} (read-only)"

    def _refuse(self, action: str, path: str) -> ReadOnlyStorageError:
        return ReadOnlyStorageError(f"{action} {path!r}: this storage root is read-only")

    async def writer(self, path: str, *, append: bool) -> FileWriter:
        raise self._refuse("write", path)

    async def direct_writer(self, path: str) -> None:
        return None  # nothing is ever written here

    async def stat(self, path: str) -> FileInfo:
        return await self.inner.stat(path)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.inner.read(path, offset, length)

    async def get_content(self, path: str) -> bytes:
        return await self.inner.get_content(path)

    async def put_content(self, path: str, data: bytes) -> None:
        raise self._refuse("write", path)

    async def move(self, source: str, destination: str) -> None:
        raise self._refuse("move", source)

    async def delete(self, path: str) -> None:
        raise self._refuse("delete", path)

    async def list(self, path: str) -> list[str]:
        return await self.inner.list(path)

    async def truncate(self, path: str, size: int) -> None:
        raise self._refuse("truncate", path)

    def local_path(self, path: str) -> str | None:
        return self.inner.local_path(path)

    async def redirect_url(self, path: str) -> str | None:
        return None

    async def purge_stale_parts(self, older_than: float, *, dry_run: bool) -> tuple[str, ...]:
        return ()
