"""Reading a file that is not in the page cache: deep read-ahead, disk waits off the loop.

An upload written with ``O_DIRECT`` (:mod:`.direct_io`) is on disk only, so the first GET
after its push reads from the disk. One 1 MiB ``pread`` at a time, with the kernel's default
read-ahead (128 KiB), keeps about one request in flight and blocks the event loop while it
waits. So each chunk is first probed with ``preadv2(RWF_NOWAIT)`` (one byte, at the chunk's
last byte): a cached chunk is read inline as before; otherwise the file is "cold" and, on a
worker thread, ``posix_fadvise(WILLNEED)`` asks the kernel to read the next :data:`WINDOW`
bytes in :data:`STEP` pieces (many requests in flight) before the chunk is read there.
While cold, the hinted window is topped up every :data:`STEP` bytes, so the disk stays
busy ahead of the reader.

The bytes land in the page cache (later GETs are served from memory, as before), never in
the process: memory stays flat whatever the window. A lock makes ``close`` wait for a read
or hint still running on its thread (say, after the GET was cancelled), so the descriptor
is never closed under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator

from dockyard.storage.driver import StorageError

WINDOW = 64 << 20  # bytes hinted ahead of the reader once the file is found cold
STEP = 8 << 20  # one hint's length; the window is topped up in these steps
_NOWAIT: int = getattr(os, "RWF_NOWAIT", 0)
_WILLNEED: int = getattr(os, "POSIX_FADV_WILLNEED", 0)


def is_cached(fd: int, offset: int) -> bool:
    """Whether the byte at ``offset`` is in the page cache; True when it cannot be told."""
    if not _NOWAIT or not _WILLNEED:
        return True
    try:
        os.preadv(fd, [bytearray(1)], offset, _NOWAIT)
    except BlockingIOError:
        return False
    except OSError:  # EOPNOTSUPP: a filesystem without non-blocking reads
        return True
    return True


class ReadAheadFile:
    """Chunked reads of one open file, with read-ahead once it turns out not to be cached."""

    def __init__(self, fd: int, end: int) -> None:
        self._fd = fd
        self._end = end  # where the caller stops reading: nothing is hinted past it
        self._hinted_to = 0  # end of the bytes already asked for with WILLNEED
        self._cold = False
        self._lock = threading.Lock()

    async def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer only at the end of the file)."""
        if self._cold and self._hinted_to - offset < WINDOW - STEP:
            await asyncio.to_thread(self._advise_ahead, offset)
        if is_cached(self._fd, offset + length - 1):
            return os.pread(self._fd, length, offset)
        self._cold = True
        return await asyncio.to_thread(self._read_from_disk, offset, length)

    @contextlib.contextmanager
    def _open(self) -> Iterator[int]:
        with self._lock:
            if self._fd < 0:
                raise StorageError("read after close")
            yield self._fd

    def _advise_ahead(self, offset: int) -> None:
        with self._open() as fd:
            end = min(offset + WINDOW, self._end)
            start = max(self._hinted_to, offset)
            while start < end:
                os.posix_fadvise(fd, start, min(STEP, end - start), _WILLNEED)
                start += STEP
            self._hinted_to = max(self._hinted_to, start)

    def _read_from_disk(self, offset: int, length: int) -> bytes:
        self._advise_ahead(offset)
        with self._open() as fd:
            return os.pread(fd, length, offset)

    def close(self) -> None:
        with self._lock:  # at most one chunk's read or one window's hints to wait for
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
