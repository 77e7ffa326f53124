"""Upload files written around the page cache: whole aligned blocks with ``O_DIRECT``.

A big push written through the page cache costs a copy into freshly allocated cache pages
per byte (on a virtual machine, a fault in the host per page: about 2.5 s of CPU per GiB
measured here, more than hashing and receiving together), fills memory with dirty pages the
final fsync must wait for, and evicts what pulls actually use. So the upload file's bytes
are gathered in a page-aligned buffer and each full buffer is written with ``O_DIRECT``
straight from it to the disk: no page-cache copy, nothing dirty left for the fsync.

Up to ``DEPTH`` full buffers are written at once, each by a worker thread at its own offset
(``pwrite``), while the next one fills: a disk keeps more than one write in its queue (see
docs/storage.md for what that was measured to give). The order of the bytes is their offsets;
a failed write is reported by the writer's next call (a later write, ``flush`` or ``close``)
of the same request, and the file is cut back to the bytes that were all stored before it
(no hole is left where a write failed and a later one landed).

What is not a whole buffer (a small upload, the end of a chunk) goes through the page cache
as usual, so a small blob stays cached and an upload shorter than one buffer never touches
``O_DIRECT`` at all. The buffer always starts at a block-aligned offset of the file: an
append to a file whose length is not a multiple of the block size first reads back the
partial last block. Where the filesystem refuses ``O_DIRECT`` (``EINVAL``: tmpfs on older
kernels, some network filesystems) the writer falls back to the page cache for good.

The cost: a blob pushed this way is not in memory afterwards, so its first pull reads it
from disk (later pulls are served from the page cache as before; see cache_warm.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import mmap
import os
import threading
from dataclasses import dataclass

from dockyard.storage.driver import StorageError

BLOCK = 4096  # O_DIRECT alignment for offsets, lengths and memory (covers 512-byte devices)
BUFFER_SIZE = 4 << 20
DEPTH = 2  # full buffers written at once; a writer holds at most DEPTH + 1 buffers
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


@dataclass(slots=True)
class _Write:
    """One full buffer on its way to the file."""

    offset: int
    buffer: mmap.mmap
    future: asyncio.Future[None]


class DirectFileWriter:
    """Appends to one upload file: full aligned buffers with ``O_DIRECT``, the rest cached.

    ``fd`` is an ordinary read-write descriptor (page cache), ``direct_fd`` an ``O_DIRECT``
    one on the same file (None: the filesystem refused it). ``write`` copies into the current
    buffer on the event loop; a full one is handed to a worker thread and the next bytes go
    to a spare buffer, with at most ``depth`` buffers in flight (a further full buffer waits
    for the oldest). ``flush`` and ``close`` wait for all of them and write out what the
    current buffer holds (through the page cache); ``flush`` then fsyncs. ``size`` counts
    every byte accepted; after a failed write, or a close that did not finish, it drops to
    the bytes the file holds without a gap, and the writer refuses further writes. Buffers
    are taken as they are needed (an empty session costs none).
    """

    def __init__(self, fd: int, direct_fd: int | None, size: int, *, depth: int = DEPTH) -> None:
        self._fd = fd
        self._direct_fd = direct_fd
        self._use_direct = direct_fd is not None
        self._depth = max(1, depth)
        self._size = size
        self._start_size = size  # what the file held before this writer: never cut below it
        self._base = size - size % BLOCK  # file offset of the current buffer's first byte
        self._current: mmap.mmap | None = None
        self._spare: list[mmap.mmap] = []
        self._inflight: collections.deque[_Write] = collections.deque()
        self._used = size - self._base
        self._unwritten = False  # bytes in the current buffer that are not in the file yet
        self._failed = False
        self._landed_offsets: set[int] = set()  # direct writes done (added by their thread)
        self._active = 0  # threads inside a pwrite on the descriptors
        self._closing = False
        self._state = threading.Condition()  # the descriptors: thread writes against close
        self._op = asyncio.Lock()  # one of write, flush, close at a time, across their waits

    def _first_buffer(self) -> mmap.mmap:
        """The current buffer, the partial last block read back into it (so it stays
        aligned: it is rewritten, unchanged, with the bytes that follow it)."""
        buffer = _take_buffer()
        if self._used:
            tail = os.pread(self._fd, self._used, self._base)
            if len(tail) != self._used:
                _give_back(buffer)
                raise StorageError("upload file shorter than its size")
            buffer[: self._used] = tail
        return buffer

    @property
    def size(self) -> int:
        return self._size

    @property
    def buffers_held(self) -> int:
        """Buffers this writer holds now: the current one, spares and those in flight."""
        return (self._current is not None) + len(self._spare) + len(self._inflight)

    async def write(self, data: bytes) -> None:
        async with self._op:
            await self._copy_in(memoryview(data))

    async def _copy_in(self, view: memoryview) -> None:
        while view:
            # checked again after every wait: a close that gave up waiting for this write
            # (its request was cancelled) may have handed the buffers to another writer
            if self._failed or self._fd < 0:
                raise StorageError("write after a failed write or close")
            if self._current is None:
                self._current = self._first_buffer()
            taken = view[: BUFFER_SIZE - self._used]
            self._current[self._used : self._used + len(taken)] = taken
            self._used += len(taken)
            self._size += len(taken)
            self._unwritten = True
            view = view[len(taken) :]
            if self._used == BUFFER_SIZE:
                await self._hand_off()

    async def _hand_off(self) -> None:
        """Start writing the full buffer (once fewer than ``depth`` are in flight); the next
        bytes go to a spare one."""
        while len(self._inflight) >= self._depth:
            await self._land_oldest()
        if self._fd < 0 or self._current is None:  # closed while the oldest landed
            raise StorageError("write after close")
        full, offset = self._current, self._base
        future = asyncio.get_running_loop().run_in_executor(None, self._write_whole, full, offset)
        self._inflight.append(_Write(offset, full, future))
        self._current = self._spare.pop() if self._spare else _take_buffer()
        self._base += BUFFER_SIZE
        self._used = 0
        self._unwritten = False

    async def _land_oldest(self) -> None:
        """Wait for the oldest buffer in flight; a failure makes the writer refuse more."""
        oldest = self._inflight[0]
        try:
            await asyncio.shield(oldest.future)
        except OSError as exc:
            raise await self._failure(exc) from exc
        # cancelled: the write stays listed (still running); close waits for it
        if self._fd < 0 or oldest.offset not in self._landed_offsets:
            raise StorageError("write after close")  # closed meanwhile, or it was skipped
        self._inflight.popleft()
        self._spare.append(oldest.buffer)

    async def _land_all(self) -> None:
        while self._inflight:
            await self._land_oldest()

    async def _failure(self, exc: OSError) -> StorageError:
        """Refuse further writes; once no write runs any more, cut the file back to the
        bytes stored without a gap and make ``size`` say so. Returns the error to raise."""
        self._failed = True
        for write in list(self._inflight):
            with contextlib.suppress(Exception):  # cancellation goes on: close cuts instead
                await asyncio.shield(write.future)
        with self._state:
            if self._fd >= 0:
                self._cut_to_stored()
        return StorageError(f"writing an upload failed: {exc}")

    def _cut_to_stored(self) -> None:
        """(Holding ``_state``, no write running.) ``size`` := the end of the bytes the file
        holds without a gap; a direct write that landed past one that did not is cut off."""
        end = os.fstat(self._fd).st_size
        gap = next((w.offset for w in self._inflight if w.offset not in self._landed_offsets), None)
        if gap is not None and max(gap, self._start_size) < end:
            end = max(gap, self._start_size)
            with contextlib.suppress(OSError):  # it stays longer: size still says the truth
                os.ftruncate(self._fd, end)
        self._size = end

    def _write_whole(self, buffer: mmap.mmap, offset: int) -> None:
        """(A worker thread.) One full buffer at ``offset``; several may run at once."""
        with self._state:
            if self._fd < 0 or self._closing:  # closing before this queued write started
                return
            self._active += 1
        try:
            self._pwrite_buffer(memoryview(buffer), offset)
            with self._state:
                self._landed_offsets.add(offset)
        finally:
            with self._state:
                self._active -= 1
                self._state.notify_all()

    def _pwrite_buffer(self, view: memoryview, offset: int) -> None:
        direct_fd = self._direct_fd
        if self._use_direct and direct_fd is not None:
            try:
                _pwrite_all(direct_fd, view, offset)
                return
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._use_direct = False  # an alignment this device refuses: cache instead
        _pwrite_all(self._fd, view, offset)

    def _write_partial(self, sync: bool) -> None:
        """The current buffer's bytes through the page cache; they stay in the buffer so
        later appends keep it aligned (and rewrite that block directly once it is full)."""
        with self._state:
            if self._fd < 0:
                raise StorageError("write after close")
            if self._unwritten and self._current is not None:
                _pwrite_all(self._fd, memoryview(self._current)[: self._used], self._base)
                self._unwritten = False
            if sync:
                os.fsync(self._fd)

    async def flush(self) -> None:
        async with self._op:
            await self._land_all()
            await self._finish(sync=True)

    async def _finish(self, *, sync: bool) -> None:
        try:
            await asyncio.to_thread(self._write_partial, sync)
        except OSError as exc:
            raise await self._failure(exc) from exc

    async def close(self) -> None:
        """Write out what is buffered (unless a write failed), then release everything.
        The descriptors close only after every write running on a thread is done (say,
        after the request was cancelled), and a queued one then finds them closed."""
        if self._fd < 0:
            return
        finished = False
        try:
            async with self._op:  # a write still under way (a cancelled request's) ends first
                if not self._failed:
                    await self._land_all()
                    await self._finish(sync=False)
            finished = True
        finally:
            self._release(finished)

    def _release(self, finished: bool) -> None:
        with self._state:
            if self._fd < 0:
                return
            self._closing = True
            self._state.wait_for(lambda: self._active == 0)
            if not finished:  # a buffer may never have reached the file
                self._cut_to_stored()
            if self._direct_fd is not None:
                os.close(self._direct_fd)
                self._direct_fd = None
            os.close(self._fd)
            self._fd = -1
            buffers = [w.buffer for w in self._inflight] + self._spare
            if self._current is not None:
                buffers.append(self._current)
            self._inflight.clear()
            self._spare = []
            self._current = None
        for buffer in buffers:
            _give_back(buffer)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:
            raise OSError(errno.EIO, "short write")
        view = view[written:]
        offset += written
