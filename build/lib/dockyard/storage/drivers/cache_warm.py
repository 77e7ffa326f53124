"""Filling the page cache with a just-published blob, off the request path.

Uploads written with ``O_DIRECT`` (:mod:`.direct_io`) skip the page cache, which saves the
push the cost of filling fresh cache pages (about 2.5 s of CPU per GiB on the virtual machines
measured here: docs/storage.md). The first GET would then pay that cost instead, reading from
the disk. A :class:`CacheWarmer` reads a published blob once, on one background thread at a
low scheduling priority, after the push has been answered, so that a GET that comes a moment
later is served from memory, as it would be after a buffered write.

Bounded on every side: one thread per process, reading one file at a time through a single
reused buffer (memory stays flat); at most :data:`QUEUE_LIMIT` files wait (more are skipped,
they are read from the disk when first asked for); a file larger than a quarter of the memory
available at that moment is not read (it would only push other cached blobs out). A failure
(the file deleted meanwhile, say) is ignored: warming is an optimisation, never a duty.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading

QUEUE_LIMIT = 16
WARM_FROM = 4 << 20  # smaller uploads went through the page cache already (direct_io)
_BUFFER = 4 << 20
_NICE = 10


class CacheWarmer:
    """Reads files into the page cache on one background thread, one at a time."""

    def __init__(self) -> None:
        self._pending: queue.Queue[str] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.warmed = 0  # files read through (for tests and curiosity)

    def warm(self, path: str, size: int) -> None:
        """Read ``path`` (``size`` bytes) into the page cache soon; never blocks the caller."""
        if size < WARM_FROM:
            return
        with contextlib.suppress(queue.Full):
            self._pending.put_nowait(path)
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="dockyard-cache-warm", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # below the request threads: a push never waits
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICE)
        buffer = bytearray(_BUFFER)
        while True:
            path = self._pending.get()
            with contextlib.suppress(OSError):
                if read_through(path, buffer):
                    self.warmed += 1


def read_through(path: str, buffer: bytearray) -> bool:
    """Read the whole file once (its pages stay cached); False when it is too big to keep."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size > _available_memory() // 4:
            return False
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, 0, size, os.POSIX_FADV_SEQUENTIAL)
        offset = 0
        while offset < size:
            got = os.preadv(fd, [buffer], offset)
            if got <= 0:
                break
            offset += got
        return True
    finally:
        os.close(fd)


def _available_memory() -> int:
    """MemAvailable from /proc/meminfo in bytes (no limit known: a very large number)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 1 << 62
