"""A read-only view of an OCI image layout directory under dockyard's blob paths.

An image layout keeps a blob at ``blobs/<algorithm>/<hex>``; dockyard's services read blobs at
:func:`dockyard.storage.layout.blob_path`. This view maps the one onto the other (any other
path is read as it is: ``index.json``, ``oci-layout``), so the code that imports blobs from a
registry:2 root imports them from a layout unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from dockyard.storage.driver import FileInfo, StorageDriver
from dockyard.storage.layout import BLOBS_PREFIX
from dockyard.storage.readonly import ReadOnlyDriver


def layout_path(path: str) -> str:
    """``docker/registry/v2/blobs/sha256/ab/abc.../data`` -> ``blobs/sha256/abc...``."""
    if path.startswith(BLOBS_PREFIX + "/") and path.endswith("/data"):
        parts = path[len(BLOBS_PREFIX) + 1 :].split("/")
        if len(parts) == 4:
            return f"blobs/{parts[0]}/{parts[2]}"
    return path


class OciLayoutView(ReadOnlyDriver):
    def __init__(self, inner: StorageDriver) -> None:
        super().__init__(inner)
        self.name = f"oci-layout ({inner.name})"

    async def stat(self, path: str) -> FileInfo:
        return await self.inner.stat(layout_path(path))

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.inner.read(layout_path(path), offset, length)

    async def get_content(self, path: str) -> bytes:
        return await self.inner.get_content(layout_path(path))

    def local_path(self, path: str) -> str | None:
        return self.inner.local_path(layout_path(path))
