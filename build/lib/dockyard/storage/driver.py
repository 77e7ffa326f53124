"""The StorageDriver protocol every backend implements, and its errors.

Paths are ``/``-separated keys relative to the driver's root, built only by
:mod:`dockyard.storage.layout` from validated digests and upload ids.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """A backend failure (I/O error, unreachable service)."""


class PathNotFoundError(StorageError):
    """The path does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(f"path not found: {path}")
        self.path = path


class StorageUnavailableError(StorageError):
    """The backend cannot be reached or keeps failing (network, 5xx): worth retrying later."""


def check_path(path: str) -> list[str]:
    """Split a storage path into components, refusing empty, ``.`` and ``..`` ones."""
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage path {path!r}")
    return parts


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    modified: float


class FileWriter(Protocol):
    """Append-only writer for one upload's bytes; nothing is visible elsewhere until moved."""

    @property
    def size(self) -> int:
        """Bytes stored so far, including those present before this writer was opened."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def flush(self) -> None:
        """Make written bytes durable (fsync) so a restart sees them."""
        ...

    async def close(self) -> None:
        """Release resources; bytes written stay in place for a later append."""
        ...


class BlobWriter(Protocol):
    """Writes one file straight at its final path; nothing appears there until ``commit``.

    For bytes whose name is known before they arrive (a blob pushed with its digest): they
    are written once, where an upload path and a move may write them twice (S3). ``abort``
    (also after a failure, and a no-op once committed or aborted) leaves nothing behind.
    """

    @property
    def size(self) -> int:
        """Bytes written so far."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None:
        """Publish the bytes at the path, atomically and durably (replacing what was there)."""
        ...

    async def abort(self) -> None:
        """Discard the bytes; the path keeps whatever it held before."""
        ...


class StorageDriver(Protocol):
    """The operations dockyard needs from a blob store."""

    name: str

    async def writer(self, path: str, *, append: bool) -> FileWriter:
        """Open ``path`` for appending (creating it) or truncate and start afresh."""
        ...

    async def direct_writer(self, path: str) -> BlobWriter | None:
        """A writer straight to ``path`` (invisible until committed), or None.

        An optional capability: None when the backend gains nothing over writing an upload
        path and moving it (the filesystem, where a rename is free); callers then do that.
        """
        ...

    async def stat(self, path: str) -> FileInfo:
        """Size and modification time, or raise PathNotFoundError."""
        ...

    def read(self, path: str, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (to the end when None) from ``offset`` in large chunks."""
        ...

    async def get_content(self, path: str) -> bytes:
        """The whole content of a small file."""
        ...

    async def put_content(self, path: str, data: bytes) -> None:
        """Write a small file atomically."""
        ...

    async def move(self, source: str, destination: str) -> None:
        """Publish ``source`` at ``destination`` atomically and durably."""
        ...

    async def delete(self, path: str) -> None:
        """Delete a file or a directory tree; a missing path is not an error."""
        ...

    async def list(self, path: str) -> list[str]:
        """Sorted names of the direct children (files and directories) of directory ``path``.

        Raises PathNotFoundError when nothing exists below ``path``.
        """
        ...

    async def truncate(self, path: str, size: int) -> None:
        """Cut a file back to ``size`` bytes (drop bytes past a recorded offset)."""
        ...

    def local_path(self, path: str) -> str | None:
        """A filesystem path for zero-copy sends, when the backend has one."""
        ...

    async def redirect_url(self, path: str) -> str | None:
        """A short-lived URL a client may GET the bytes from directly (presigned), or None.

        None when the backend has no such URL or redirects are disabled. Only asked for
        published files (blobs); the caller knows the file exists.
        """
        ...

    async def purge_stale_parts(self, older_than: float, *, dry_run: bool) -> tuple[str, ...]:
        """Abort the backend's own unfinished writes begun before ``older_than`` (Unix time).

        For S3: incomplete multipart uploads below the root directory, left by a process that
        died mid-write. Returns the paths they were for; ``dry_run`` only lists them. Backends
        without such leftovers return ``()``.
        """
        ...
