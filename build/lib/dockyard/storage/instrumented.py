"""A StorageDriver wrapper that reports every action (for ``registry_storage_action_total``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from dockyard.storage.driver import BlobWriter, FileInfo, FileWriter, StorageDriver

ActionRecorder = Callable[[str, str], None]


class InstrumentedDriver:
    """Delegates to ``inner`` and calls ``record(driver name, action)`` once per call."""

    def __init__(self, inner: StorageDriver, record: ActionRecorder) -> None:
        self.inner = inner
        self.name = inner.name
        self._record = record

    async def writer(self, path: str, *, append: bool) -> FileWriter:
        self._record(self.name, "writer")
        return await self.inner.writer(path, append=append)

    async def direct_writer(self, path: str) -> BlobWriter | None:
        self._record(self.name, "direct_writer")
        return await self.inner.direct_writer(path)

    async def stat(self, path: str) -> FileInfo:
        self._record(self.name, "stat")
        return await self.inner.stat(path)

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        self._record(self.name, "read")
        return self.inner.read(path, offset, length)

    async def get_content(self, path: str) -> bytes:
        self._record(self.name, "get_content")
        return await self.inner.get_content(path)

    async def put_content(self, path: str, data: bytes) -> None:
        self._record(self.name, "put_content")
        await self.inner.put_content(path, data)

    async def move(self, source: str, destination: str) -> None:
        self._record(self.name, "move")
        await self.inner.move(source, destination)

    async def delete(self, path: str) -> None:
        self._record(self.name, "delete")
        await self.inner.delete(path)

    async def list(self, path: str) -> list[str]:
        self._record(self.name, "list")
        return await self.inner.list(path)

    async def truncate(self, path: str, size: int) -> None:
        self._record(self.name, "truncate")
        await self.inner.truncate(path, size)

    def local_path(self, path: str) -> str | None:
        self._record(self.name, "local_path")
        return self.inner.local_path(path)

    async def redirect_url(self, path: str) -> str | None:
        self._record(self.name, "redirect_url")
        return await self.inner.redirect_url(path)

    async def purge_stale_parts(self, older_than: float, *, dry_run: bool) -> tuple[str, ...]:
        self._record(self.name, "purge_stale_parts")
        return await self.inner.purge_stale_parts(older_than, dry_run=dry_run)
