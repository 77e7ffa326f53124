"""The S3 BlobWriter: one object streamed straight to its final key, visible only on commit.

Bytes collect in a buffer of one part; full parts go to a streaming multipart upload at the
final key (parts of ``part_size``, two in flight: :class:`s3_writer.PartBuffer`, which the
segment writer uses too), so memory stays
within a few parts however large the object. The upload is completed only by ``commit``: S3
shows nothing at the key before CompleteMultipartUpload, so a reader never sees partial
content. An object that fits in one part is a single PUT at commit time. ``abort`` (and any
failure) aborts the multipart upload, so no parts are left behind.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from dockyard.storage.driver import StorageError
from dockyard.storage.drivers.s3_objects import ObjectIO
from dockyard.storage.drivers.s3_writer import PartBuffer

if TYPE_CHECKING:
    from obstore import Attributes


class _State(enum.Enum):
    OPEN = "open"
    COMMITTED = "committed"
    ABORTED = "aborted"  # by the caller, or after a failure


class S3DirectWriter:
    """Streams one object to ``key``; ``commit`` makes it appear, ``abort`` leaves nothing."""

    def __init__(self, objects: ObjectIO, key: str, attributes: Attributes | None = None) -> None:
        self._size = 0
        self._object = PartBuffer(objects, key, attributes)  # attributes: the storage class
        self._state = _State.OPEN

    @property
    def size(self) -> int:
        return self._size

    async def write(self, data: bytes) -> None:
        if self._state is not _State.OPEN:
            raise StorageError(f"write to a {self._state.value} S3 writer")
        if not data:
            return
        self._size += len(data)
        await self._guard(self._object.add(data))

    async def commit(self) -> None:
        if self._state is _State.COMMITTED:
            return
        if self._state is not _State.OPEN:
            raise StorageError(f"cannot commit an {self._state.value} S3 writer")
        await self._guard(self._object.complete(put_empty=True))  # an empty blob exists too
        self._state = _State.COMMITTED

    async def abort(self) -> None:
        if self._state is not _State.OPEN:
            return
        self._state = _State.ABORTED
        await self._object.discard()

    async def _guard(self, step: Awaitable[None]) -> None:
        """Run ``step``; on any failure abort the upload, so nothing stays behind."""
        try:
            await step
        except BaseException:
            await self.abort()
            raise
