"""A blocking file object over an async byte stream, for parsers that read (``tarfile``) and
run in a worker thread: each ``read`` waits for the next chunk from the event loop, so at
most one chunk is held at a time."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator


class StreamReader(io.RawIOBase):
    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.chunks, self.loop = chunks, loop
        self.pending = b""
        self.done = False

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes:
        future = asyncio.run_coroutine_threadsafe(_next_chunk(self.chunks), self.loop)
        return future.result()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending and not self.done:
            self.pending = self._next()
            self.done = not self.pending
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    return await anext(chunks, b"")
