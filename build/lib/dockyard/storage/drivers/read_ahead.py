"""Reading a file that is not in the page cache: a bigger read-ahead, disk waits off the loop.

An upload written with ``O_DIRECT`` (:mod:`.direct_io`) is on disk only, so the first GET
after its push reads it from the disk. Two things help that read:

- ``posix_fadvise(SEQUENTIAL)`` on the descriptor of a long read doubles the kernel's
  read-ahead for it: +10-30 % for a bare ``pread`` loop over a cold 1 GiB file here (4 of 4
  alternating pairs), within the noise through the whole driver (docs/benchmarks.md,
  *The first GET after a push*). ``WILLNEED`` hints for a window ahead were tried and were slower
  (580-725 against 1,270-1,670 MB/s for plain reads, three times the CPU): they bypass the
  kernel's asynchronous read-ahead.
- each chunk is first probed with ``preadv2(RWF_NOWAIT)`` at its last byte: a cached chunk
  is read inline as before (no thread hop for the usual, cached GET); a chunk that must come
  from the disk is read on a worker thread, so the event loop keeps serving other requests.

The bytes land in the page cache (later GETs are served from memory), never in the process:
memory stays flat. A lock makes ``close`` wait for a read still running on its thread (say,
after the GET was cancelled), so the descriptor is never closed under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterator

from dockyard.storage.driver import StorageError

SEQUENTIAL_FROM = 8 << 20  # reads this long ask for the doubled read-ahead
_NOWAIT: int = getattr(os, "RWF_NOWAIT", 0)
_SEQUENTIAL: int | None = getattr(os, "POSIX_FADV_SEQUENTIAL", None)


def is_cached(fd: int, offset: int) -> bool:
    """Whether the byte at ``offset`` is in the page cache; True when it cannot be told.

    When it is not, the probe starts the kernel's read-ahead there (it does not wait for it).
    """
    if not _NOWAIT:
        return True
    try:
        os.preadv(fd, [bytearray(1)], offset, _NOWAIT)
    except BlockingIOError:
        return False
    except OSError:  # EOPNOTSUPP: a filesystem without non-blocking reads
        return True
    return True


class ReadAheadFile:
    """Chunked reads of ``[offset, end)`` of one open file; disk waits on a worker thread."""

    def __init__(self, fd: int, offset: int, end: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        if _SEQUENTIAL is not None and end - offset >= SEQUENTIAL_FROM:
            with contextlib.suppress(OSError):
                os.posix_fadvise(fd, offset, end - offset, _SEQUENTIAL)

    async def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer only at the end of the file)."""
        if is_cached(self._fd, offset + length - 1):
            return os.pread(self._fd, length, offset)
        return await asyncio.to_thread(self._read_from_disk, offset, length)

    @contextlib.contextmanager
    def _open(self) -> Iterator[int]:
        with self._lock:
            if self._fd < 0:
                raise StorageError("read after close")
            yield self._fd

    def _read_from_disk(self, offset: int, length: int) -> bytes:
        with self._open() as fd:
            return os.pread(fd, length, offset)

    def close(self) -> None:
        with self._lock:  # at most one chunk's read to wait for
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
