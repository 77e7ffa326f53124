"""Upload files written around the page cache: whole aligned blocks with ``O_DIRECT``.

A big push written through the page cache costs a copy into freshly allocated cache pages
per byte (on a virtual machine, a fault in the host per page: about 2.5 s of CPU per GiB
measured here, more than hashing and receiving together), fills memory with dirty pages the
final fsync must wait for, and evicts what pulls actually use. So the upload file's bytes
are gathered in one page-aligned buffer and each full buffer is written with ``O_DIRECT``
straight from it to the disk: no page-cache copy, nothing dirty left for the fsync.

What is not a whole buffer (a small upload, the end of a chunk) goes through the page cache
as usual, so a small blob stays cached and an upload shorter than one buffer never touches
``O_DIRECT`` at all. The buffer always starts at a block-aligned offset of the file: an
append to a file whose length is not a multiple of the block size first reads back the
partial last block. Where the filesystem refuses ``O_DIRECT`` (``EINVAL``: tmpfs on older
kernels, some network filesystems) the writer falls back to the page cache for good.

The cost: a blob pushed this way is not in memory afterwards, so its first pull reads it
from disk (later pulls are served from the page cache as before).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import mmap
import os
import threading

from dockyard.storage.driver import StorageError

BLOCK = 4096  # O_DIRECT alignment for offsets, lengths and memory (covers 512-byte devices)
BUFFER_SIZE = 4 << 20
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
_POOL_MAX = 4
_pool: list[mmap.mmap] = []
_pool_lock = threading.Lock()


def supported() -> bool:
    """Whether this platform has ``O_DIRECT`` at all (Linux does; macOS does not)."""
    return _O_DIRECT != 0


def _take_buffer() -> mmap.mmap:
    """A page-aligned buffer, reused when one is free (no fresh pages to fault in)."""
    with _pool_lock:
        while _pool:
            buffer = _pool.pop()
            if len(buffer) == BUFFER_SIZE:
                return buffer
            buffer.close()
    return mmap.mmap(-1, BUFFER_SIZE)


def _give_back(buffer: mmap.mmap) -> None:
    with _pool_lock:
        if len(_pool) < _POOL_MAX:
            _pool.append(buffer)
            return
    with contextlib.suppress(BufferError):  # a view still held (a traceback): the GC frees it
        buffer.close()


def open_direct(path: str) -> int | None:
    """A second, ``O_DIRECT`` descriptor on ``path``; None where the filesystem refuses it."""
    try:
        return os.open(path, os.O_WRONLY | _O_DIRECT)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise


class DirectFileWriter:
    """Appends to one upload file: full aligned buffers with ``O_DIRECT``, the rest cached.

    ``fd`` is an ordinary read-write descriptor (page cache), ``direct_fd`` an ``O_DIRECT``
    one on the same file (None: the filesystem refused it). Two buffers take turns: ``write``
    copies into one on the event loop; when it is full a worker thread writes it out while
    the next bytes fill the other, so at most one buffer is in flight. ``flush`` and ``close``
    wait for it and write out what the current buffer holds (through the page cache);
    ``flush`` then fsyncs. ``size`` counts every byte accepted; after a failed write, or a
    close that did not finish, it drops to what the file really holds, and the writer refuses
    further writes. The buffers are taken at the first byte (an empty session costs none).
    """

    def __init__(self, fd: int, direct_fd: int | None, size: int) -> None:
        self._fd = fd
        self._direct_fd = direct_fd
        self._size = size
        self._base = size - size % BLOCK  # file offset of the current buffer's first byte
        self._buffers: list[mmap.mmap] = []
        self._used = size - self._base
        self._unwritten = False  # bytes in the current buffer that are not in the file yet
        self._inflight: asyncio.Future[None] | None = None
        self._failed = False
        self._lock = threading.Lock()  # the descriptors: thread writes against close
        self._op = asyncio.Lock()  # one of write, flush, close at a time, across their waits

    def _take_buffers(self) -> None:
        """Both buffers, the partial last block read back into the first (so it stays
        aligned: it is rewritten, unchanged, with the bytes that follow it)."""
        self._buffers = [_take_buffer(), _take_buffer()]
        if self._used:
            tail = os.pread(self._fd, self._used, self._base)
            if len(tail) != self._used:
                raise StorageError("upload file shorter than its size")
            self._buffers[0][: self._used] = tail

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        async with self._op:
            await self._copy_in(memoryview(data))

    async def _copy_in(self, view: memoryview) -> None:
        while view:
            # checked again after every wait: a close that gave up waiting for this write
            # (its request was cancelled) may have handed the buffers to another writer
            if self._failed or self._fd < 0:
                raise StorageError("write after a failed write or close")
            if not self._buffers:
                self._take_buffers()
            taken = view[: BUFFER_SIZE - self._used]
            self._buffers[0][self._used : self._used + len(taken)] = taken
            self._used += len(taken)
            self._size += len(taken)
            self._unwritten = True
            view = view[len(taken) :]
            if self._used == BUFFER_SIZE:
                await self._hand_off()

    async def _hand_off(self) -> None:
        """Start writing the full buffer (after the one before it landed) and swap."""
        await self._landed()
        if self._fd < 0:  # closed while that write landed
            raise StorageError("write after close")
        full, offset = self._buffers[0], self._base
        loop = asyncio.get_running_loop()
        self._inflight = loop.run_in_executor(None, self._write_whole, full, offset)
        self._buffers.reverse()
        self._base += BUFFER_SIZE
        self._used = 0
        self._unwritten = False

    async def _landed(self) -> None:
        """Wait for the buffer in flight; a failure makes the writer refuse more."""
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return
        try:
            await asyncio.shield(inflight)
        except OSError as exc:
            raise self._failure(exc) from exc
        except asyncio.CancelledError:
            self._inflight = inflight  # still running: close waits for it
            raise

    def _failure(self, exc: OSError) -> StorageError:
        """Refuse further writes, size back to what the file really holds; the error."""
        self._failed = True
        with self._lock:
            if self._fd >= 0:
                self._size = os.fstat(self._fd).st_size
        return StorageError(f"writing an upload failed: {exc}")

    def _write_whole(self, buffer: mmap.mmap, offset: int) -> None:
        with self._lock:
            if self._fd < 0:  # closed before this queued write started: nothing to write
                return
            view = memoryview(buffer)
            if self._direct_fd is not None:
                try:
                    _pwrite_all(self._direct_fd, view, offset)
                    return
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    self._drop_direct()  # an alignment this device refuses: cache instead
            _pwrite_all(self._fd, view, offset)

    def _write_partial(self, sync: bool) -> None:
        """The current buffer's bytes through the page cache; they stay in the buffer so
        later appends keep it aligned (and rewrite that block directly once it is full)."""
        with self._lock:
            if self._fd < 0:
                raise StorageError("write after close")
            if self._unwritten:
                _pwrite_all(self._fd, memoryview(self._buffers[0])[: self._used], self._base)
                self._unwritten = False
            if sync:
                os.fsync(self._fd)

    def _drop_direct(self) -> None:
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None

    async def flush(self) -> None:
        async with self._op:
            await self._landed()
            await self._finish(sync=True)

    async def _finish(self, *, sync: bool) -> None:
        try:
            await asyncio.to_thread(self._write_partial, sync)
        except OSError as exc:
            raise self._failure(exc) from exc

    async def close(self) -> None:
        """Write out what is buffered (unless a write failed), then release everything. The
        lock makes the descriptors close only after a write running on a thread (say, after
        the request was cancelled) is done, and a queued one then finds them closed."""
        if self._fd < 0:
            return
        finished = False
        try:
            async with self._op:  # a write still under way (a cancelled request's) ends first
                if not self._failed:
                    await self._landed()
                    await self._finish(sync=False)
            finished = True
        finally:
            with self._lock:
                if self._fd >= 0:
                    if not finished:  # a buffer may never have reached the file
                        self._size = os.fstat(self._fd).st_size
                    self._drop_direct()
                    os.close(self._fd)
                    self._fd = -1
                    for buffer in self._buffers:
                        _give_back(buffer)
                    self._buffers = []


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]
        offset += written
