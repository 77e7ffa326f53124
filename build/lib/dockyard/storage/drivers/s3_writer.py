"""The S3 FileWriter: each writer (each PATCH) adds one segment object after the stored ones.

Bytes collect in a buffer of one part. A segment that ends before the buffer fills is a single
PUT; a longer one becomes a streaming multipart upload (parts of ``part_size``, two in flight),
so memory stays within about four parts per open writer however large the blob. ``flush`` and
``close`` complete the segment: only then does it exist. After a failure ``size`` falls back to
the bytes that are stored for sure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING

from dockyard.storage.driver import StorageError
from dockyard.storage.drivers.s3_layout import segment_key
from dockyard.storage.drivers.s3_objects import ObjectIO

if TYPE_CHECKING:
    from obstore import Attributes


class _AbortUploadError(Exception):
    """Raised inside the part stream so that obstore aborts the multipart upload."""


_END = object()
_ABORT = object()


class PartStream:
    """Feeds whole parts to one ``put_stream`` call running as a task."""

    def __init__(self, objects: ObjectIO, key: str, attributes: Attributes | None = None) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
        stream = objects.put_stream(key, self._parts(), attributes=attributes)
        self._task = asyncio.ensure_future(stream)

    async def _parts(self) -> AsyncIterator[bytearray]:
        while True:
            item = await self._queue.get()
            self._queue.task_done()
            if item is _END:
                return
            if item is _ABORT:
                raise _AbortUploadError
            assert isinstance(item, bytearray)
            yield item

    async def send(self, part: bytearray) -> None:
        """Hand ``part`` over and wait until obstore took it: at most one part waits here."""
        await self._hand_over(self._queue.put(part))
        await self._hand_over(self._queue.join())

    async def finish(self) -> None:
        await self._hand_over(self._queue.put(_END))
        await self._task

    async def abort(self) -> None:
        if not self._task.done():
            self._drop_waiting()  # so that the abort marker always finds room
            self._queue.put_nowait(_ABORT)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout=30)

    def _drop_waiting(self) -> None:
        """Take back a part that obstore has not taken yet (a sender waiting on it returns)."""
        with contextlib.suppress(asyncio.QueueEmpty):
            self._queue.get_nowait()
            self._queue.task_done()

    async def _hand_over(self, put: Awaitable[None]) -> None:
        """Queue an item, unless the upload fails first (then raise its error)."""
        putting = asyncio.ensure_future(put)
        done, _ = await asyncio.wait({putting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if putting in done:
            return
        putting.cancel()
        await self._task  # raises the upload's StorageError
        raise StorageError("S3 upload stream ended early")


class PartBuffer:
    """One object's bytes on their way to ``key``: whole parts stream as a multipart upload
    (two in flight), an object that never fills a part is a single PUT. Shared by the segment
    writer below and the direct writer (:mod:`s3_direct`)."""

    def __init__(self, objects: ObjectIO, key: str, attributes: Attributes | None = None) -> None:
        self._objects = objects
        self._key = key
        self._attributes = attributes
        self._buffer = bytearray()
        self._stream: PartStream | None = None

    async def add(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= self._objects.part_size:
            await self._ship()

    async def complete(self, *, put_empty: bool) -> None:
        """Store the object: finish the multipart upload (aborted if that fails, so nothing is
        left open), else one PUT of the buffer when it has bytes or ``put_empty``."""
        if self._stream is None:
            if self._buffer or put_empty:
                part, self._buffer = self._buffer, bytearray()
                await self._objects.put(self._key, bytes(part), attributes=self._attributes)
            return
        if self._buffer:
            await self._ship()
        stream, self._stream = self._stream, None
        try:
            await stream.finish()
        except BaseException:
            await stream.abort()  # a cancelled finish must not leave the upload open
            raise

    async def discard(self) -> None:
        """Drop the buffer and abort the multipart upload, if one was started."""
        self._buffer = bytearray()
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.abort()

    async def _ship(self) -> None:
        if self._stream is None:
            self._stream = PartStream(self._objects, self._key, self._attributes)
        part, self._buffer = self._buffer, bytearray()
        await self._stream.send(part)


class S3Writer:
    """Appends one segment per writer session (a new one after each ``flush``)."""

    def __init__(self, objects: ObjectIO, key: str, size: int, *, create: bool) -> None:
        self._objects = objects
        self._key = key
        self._start = size  # where the current segment starts
        self._size = size
        self._segment = PartBuffer(objects, segment_key(key, size))
        self._create = create  # write an empty segment on close so that the file exists
        self._failed = False
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        if self._closed or self._failed:
            raise StorageError("write to a closed or failed S3 writer")
        if not data:
            return
        self._size += len(data)
        await self._guard(self._segment.add(data))

    async def flush(self) -> None:
        if not self._closed and not self._failed:
            await self._guard(self._complete())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._failed:
            return
        await self._guard(self._complete())

    async def _complete(self) -> None:
        """Store the current segment (if it has bytes, or the file must come into being)."""
        await self._segment.complete(put_empty=self._create)
        self._create = False
        self._start = self._size
        self._segment = PartBuffer(self._objects, segment_key(self._key, self._start))

    async def _guard(self, step: Awaitable[None]) -> None:
        """Run ``step``; on any failure abort the open upload and count only stored bytes."""
        try:
            await step
        except BaseException:
            self._failed = True
            self._size = self._start
            await self._segment.discard()
            raise
