"""Early writeback: ask the kernel to start writing a file's dirty pages while more arrive.

A finished upload is fsynced before it is published. Without help the kernel starts writing
an upload's pages only after ``dirty_expire_centisecs`` (30 s) or when dirty memory passes
``dirty_background_ratio``, so the final fsync waits for the whole blob to reach the disk.
``sync_file_range(SYNC_FILE_RANGE_WRITE)`` on each window just written starts that I/O
straight away, without waiting for it and without dropping the pages from the page cache
(a blob pulled right after its push is still served from memory). The fsync at the end then
only waits for the last window. Linux only; elsewhere :func:`start_writeback` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable

WINDOW = 8 << 20  # bytes written between two writeback requests
_SYNC_FILE_RANGE_WRITE = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load()


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start (never wait for) writing ``length`` bytes at ``offset``; best effort."""
    if _sync_file_range is not None and length > 0:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
