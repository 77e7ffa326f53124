"""One upstream download of a blob, shared by every client that asks for it meanwhile.

The download (a :class:`Flight`) writes each chunk to a spool file and lets readers follow:
a reader sends what the spool already holds, then waits for the next chunk. Memory stays flat
whatever the number of readers or the blob's size (readers read the spool at their own pace;
nothing is queued per reader). The spool is a private, already unlinked temporary file,
closed when the download is over (:meth:`Flight.finish`) and the last reader is gone.

A reader never receives the blob's last byte before the whole blob was verified against its
digest: when the download fails (wrong bytes, truncated, the upstream went away) every reader
fails instead, and the client's connection is aborted rather than completed with wrong bytes.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Literal

READ_CHUNK = 1024 * 1024

State = Literal["running", "verified", "failed"]


class FlightFailedError(Exception):
    """The download failed; what a reader was sent must not be completed."""


class Flight:
    """A blob being fetched: ``size`` bytes (None: the upstream did not say)."""

    def __init__(self, digest: str, size: int | None, *, spool_dir: str | None = None) -> None:
        self.digest = digest
        self.size = size
        self.written = 0
        self.state: State = "running"
        self.reason = ""
        self.readers = 0
        self._finished = False
        self._changed = asyncio.Event()
        # closed by _close_if_idle once finished and unread, not at the end of a block
        handle = tempfile.TemporaryFile(dir=spool_dir, prefix="dockyard-flight-")  # noqa: SIM115
        self._file = handle
        self._fd = handle.fileno()

    # the download side -------------------------------------------------------------------

    def append(self, data: bytes) -> None:
        """Spool ``data`` and wake the readers; ValueError past the announced size."""
        if self.size is not None and self.written + len(data) > self.size:
            raise ValueError(f"the upstream sent more than the {self.size} bytes it announced")
        view = memoryview(data)
        while view:
            done = os.pwrite(self._fd, view, self.written)
            self.written += done
            view = view[done:]
        self._wake()

    def spool(self, data: bytes) -> None:
        """Write ``data`` after what readers can see, without showing it yet: safe on a
        worker thread while the event loop serves readers; :meth:`advance` shows it."""
        view, offset = memoryview(data), self.written
        while view:
            done = os.pwrite(self._fd, view, offset)
            offset += done
            view = view[done:]

    def advance(self, length: int) -> None:
        """``length`` bytes spooled by :meth:`spool` are there: wake the readers."""
        self.written += length
        self._wake()

    def verified(self) -> None:
        self.state = "verified"
        self.size = self.written
        self._wake()

    def failed(self, reason: str) -> None:
        if self.state != "running":
            return
        self.state, self.reason = "failed", reason
        self._wake()

    def finish(self) -> None:
        """No reader will join any more (the flight is no longer findable): the spool
        closes once the current readers are done."""
        self.failed("the download stopped")  # no-op once verified or failed
        self._finished = True
        self._close_if_idle()

    @property
    def joinable(self) -> bool:
        return not self._finished

    # the reader side ---------------------------------------------------------------------

    def join(self) -> FlightReader:
        """A reader; counted at once, so the spool stays open until it is released."""
        if self._finished:
            raise RuntimeError("joining a finished flight")
        self.readers += 1
        return FlightReader(self)

    def _release(self) -> None:
        self.readers -= 1
        self._close_if_idle()

    def _deliverable(self) -> int:
        if self.state == "verified":
            return self.written
        return max(0, self.written - 1)  # the last byte waits for the verdict

    async def _chunks(self, offset: int, length: int | None) -> AsyncIterator[bytes]:
        position = offset
        while length is None or position < offset + length:
            if self.state == "failed":
                raise FlightFailedError(self.reason)
            limit = self._deliverable()
            if length is not None:
                limit = min(limit, offset + length)
            if position < limit:
                data = os.pread(self._fd, min(READ_CHUNK, limit - position), position)
                position += len(data)
                yield data
                continue
            if self.state == "verified":
                return  # everything sent (length None: to the end)
            await self._changed.wait()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _close_if_idle(self) -> None:
        if self._finished and self.readers == 0 and not self._file.closed:
            self._file.close()


class FlightReader:
    """One client's view of a flight: ``chunks`` once, then ``release`` (idempotent)."""

    def __init__(self, flight: Flight) -> None:
        self.flight = flight
        self._released = False

    def chunks(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        return self.flight._chunks(offset, length)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.flight._release()
