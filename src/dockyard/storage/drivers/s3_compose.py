"""Publish a run of objects as one destination object, server-side where S3 allows it.

One source up to the copy threshold is a single CopyObject. Anything else is a multipart
upload whose parts are UploadPartCopy calls (sources of 5 MiB or more, in
``multipartcopychunksize`` ranges) and re-uploaded merges of the small sources (see
:func:`~dockyard.storage.drivers.s3_layout.plan_parts`). The destination appears only when
CopyObject or CompleteMultipartUpload succeeds; on any failure the multipart upload is
aborted, so a reader never sees partial content at the destination key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dockyard.storage.driver import StorageError
from dockyard.storage.drivers.s3_control import Control
from dockyard.storage.drivers.s3_layout import (
    MAX_PART,
    MAX_PARTS,
    MIN_PART,
    Part,
    Piece,
    plan_parts,
)
from dockyard.storage.drivers.s3_objects import ObjectIO
from dockyard.storage.drivers.s3_options import S3Options

log = logging.getLogger("dockyard.storage.s3")
#: Merged parts hold their bytes in memory while they upload: few at a time.
_UPLOADS_AT_ONCE = 2


class Composer:
    def __init__(self, objects: ObjectIO, control: Control, options: S3Options) -> None:
        self.objects = objects
        self.control = control
        self.options = options

    async def compose(self, sources: list[Piece], destination: str, *, whole: bool = True) -> None:
        """Write the concatenation of ``sources`` at ``destination``.

        ``whole``: each piece is a whole object, so a single one may be copied by CopyObject.
        """
        sources = [s for s in sources if s.size]
        if not sources:
            await self.objects.put(destination, b"")
            return
        single = sources[0] if len(sources) == 1 and whole else None
        if (
            single is not None
            and single.size <= MAX_PART
            and (single.size <= self.options.copy_threshold or single.size < MIN_PART)
        ):
            await self.control.copy_object(single.key, destination)
            return
        await self._multipart(self._plan(sources), destination)

    def _plan(self, sources: list[Piece]) -> list[Part]:
        total = sum(s.size for s in sources)
        # Grow copy ranges for huge objects so the plan stays within S3's part count.
        chunk = max(self.options.copy_chunk, -(-total // (MAX_PARTS // 2)))
        parts = plan_parts(sources, copy_chunk=chunk, merge_target=self.options.part_size)
        if len(parts) > MAX_PARTS:
            raise StorageError(f"cannot compose {len(parts)} parts (S3 allows {MAX_PARTS})")
        return parts

    async def _multipart(self, parts: list[Part], destination: str) -> None:
        upload_id = await self.control.create_multipart(destination)
        try:
            etags = await self._send_parts(parts, destination, upload_id)
            await self.control.complete_multipart(destination, upload_id, etags)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.control.abort_multipart(destination, upload_id))
            raise

    async def _send_parts(self, parts: list[Part], destination: str, upload_id: str) -> list[str]:
        calls = asyncio.Semaphore(self.control.workers)
        uploads = asyncio.Semaphore(_UPLOADS_AT_ONCE)

        async def send(number: int, part: Part) -> str:
            async with calls:
                if part.copy:
                    return await self.control.copy_part(
                        destination, upload_id, number, part.pieces[0]
                    )
                async with uploads:
                    body = await self._gather(part)
                    return await self.control.upload_part(destination, upload_id, number, body)

        tasks = [asyncio.ensure_future(send(n, p)) for n, p in enumerate(parts, start=1)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _gather(self, part: Part) -> bytes:
        body = bytearray()
        for piece in part.pieces:
            async for chunk in self.objects.read(piece.key, piece.start, piece.end):
                body += chunk
        return bytes(body)
