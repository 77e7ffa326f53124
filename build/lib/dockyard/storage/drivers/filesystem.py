"""Local filesystem storage: files under one root directory, published by rename + fsync."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator

from dockyard.storage.driver import (
    FileInfo,
    FileWriter,
    PathNotFoundError,
    StorageError,
    check_path,
)
from dockyard.storage.drivers import cache_warm, direct_io
from dockyard.storage.drivers.read_ahead import ReadAheadFile
from dockyard.storage.drivers.writeback import WINDOW, start_writeback

READ_CHUNK = 1 << 20
# A component of the path is missing, or is a file: either way the path does not exist.
_MISSING = (FileNotFoundError, NotADirectoryError)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemWriter:
    """Appends to one file with ``os.write`` calls on a worker thread.

    Copying into the page cache costs about as much CPU as hashing (more on a virtual
    machine, where every freshly allocated page is a fault in the host), so it runs off the
    event loop, in parallel with the hashing pool. Each window written is handed to the
    kernel's writeback straight away (:mod:`.writeback`), so ``flush`` (fsync, also on a
    worker thread) mostly waits for the last window only. Callers await one ``write`` before
    the next; the lock makes ``close`` wait for a write still running on its thread (say,
    after the request was cancelled), so the descriptor is never closed under it.
    """

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self._unflushed_from = size  # start of the bytes not yet handed to writeback
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self._write_all, data)

    def _write_all(self, data: bytes) -> None:
        with self._lock:
            if self._fd < 0:
                raise StorageError("write after close")
            self._append(memoryview(data))

    def _append(self, view: memoryview) -> None:
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written
        if self._size - self._unflushed_from >= WINDOW:
            start_writeback(self._fd, self._unflushed_from, self._size - self._unflushed_from)
            self._unflushed_from = self._size

    async def flush(self) -> None:
        await asyncio.to_thread(self._fsync)

    def _fsync(self) -> None:
        with self._lock:
            os.fsync(self._fd)

    async def close(self) -> None:
        with self._lock:  # at most one chunk's write to wait for
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class FilesystemDriver:
    """Stores every path as a file below ``root``.

    ``direct_writes`` (the default) writes big uploads around the page cache
    (:mod:`.direct_io`); False keeps every byte in the page cache (:class:`FilesystemWriter`).
    """

    name = "filesystem"

    def __init__(self, root: str, *, direct_writes: bool = True) -> None:
        self.root = os.path.abspath(root)
        self.direct_writes = direct_writes and direct_io.supported()
        # direct writes skip the page cache: fill it behind the push instead (cache_warm.py)
        self.warmer = cache_warm.CacheWarmer() if self.direct_writes else None
        os.makedirs(self.root, mode=0o700, exist_ok=True)  # a new root is the owner's alone

    def _full(self, path: str) -> str:
        return os.path.join(self.root, *check_path(path))

    async def writer(self, path: str, *, append: bool) -> FileWriter:
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if self.direct_writes:
            return self._direct_io_writer(full, append)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        fd = os.open(full, flags, 0o644)
        return FilesystemWriter(fd, os.fstat(fd).st_size)

    @staticmethod
    def _direct_io_writer(full: str, append: bool) -> direct_io.DirectFileWriter:
        fd = os.open(full, os.O_RDWR | os.O_CREAT | (0 if append else os.O_TRUNC), 0o644)
        direct_fd = None
        try:
            direct_fd = direct_io.open_direct(full)
            return direct_io.DirectFileWriter(fd, direct_fd, os.fstat(fd).st_size)
        except BaseException:
            for opened in (fd, direct_fd):
                if opened is not None:
                    os.close(opened)
            raise

    async def direct_writer(self, path: str) -> None:
        """None: an upload file is published by a rename, so its bytes are written once."""
        check_path(path)

    async def stat(self, path: str) -> FileInfo:
        try:
            st = os.stat(self._full(path))
        except _MISSING:
            raise PathNotFoundError(path) from None
        return FileInfo(path, st.st_size, st.st_mtime)

    async def read(
        self, path: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        try:
            fd = os.open(self._full(path), os.O_RDONLY)
        except _MISSING:
            raise PathNotFoundError(path) from None
        try:
            end = offset + length if length is not None else os.fstat(fd).st_size
        except BaseException:
            os.close(fd)
            raise
        reader = ReadAheadFile(fd, offset, end)
        try:
            while offset < end:
                chunk = await reader.read(offset, min(READ_CHUNK, end - offset))
                if not chunk:
                    raise StorageError(f"{path}: file shorter than expected")
                offset += len(chunk)
                yield chunk
        finally:
            reader.close()

    async def get_content(self, path: str) -> bytes:
        try:
            with open(self._full(path), "rb") as handle:
                return handle.read()
        except _MISSING:
            raise PathNotFoundError(path) from None

    async def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        temporary = f"{full}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, full)
        _fsync_dir(os.path.dirname(full))

    async def move(self, source: str, destination: str) -> None:
        src, dst = self._full(source), self._full(destination)
        if not os.path.exists(src):
            raise PathNotFoundError(source)
        size = await asyncio.to_thread(self._publish, src, dst)
        if self.warmer is not None:
            self.warmer.warm(dst, size)

    @staticmethod
    def _publish(src: str, dst: str) -> int:
        """Move ``src`` to ``dst`` durably; the size of what was published."""
        _fsync_file(src)  # durable on its own: a no-op cost when the writer already flushed
        directory = os.path.dirname(dst)
        os.makedirs(directory, exist_ok=True)
        size = os.stat(src).st_size
        os.replace(src, dst)
        _fsync_dir(directory)
        return size

    async def delete(self, path: str) -> None:
        full = self._full(path)
        if os.path.isdir(full):
            await asyncio.to_thread(shutil.rmtree, full, True)
        else:
            with contextlib.suppress(*_MISSING):
                os.unlink(full)

    async def list(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._full(path)))
        except _MISSING:
            raise PathNotFoundError(path) from None

    async def truncate(self, path: str, size: int) -> None:
        try:
            os.truncate(self._full(path), size)
        except _MISSING:
            raise PathNotFoundError(path) from None

    def local_path(self, path: str) -> str | None:
        return self._full(path)

    async def redirect_url(self, path: str) -> str | None:
        check_path(path)
        return None

    async def purge_stale_parts(self, older_than: float, *, dry_run: bool) -> tuple[str, ...]:
        """Nothing to abort: an upload is a plain file, purged with its session."""
        return ()
