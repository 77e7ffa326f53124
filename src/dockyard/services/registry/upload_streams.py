"""Storing and hashing an upload's body as it arrives.

Used by :mod:`dockyard.services.registry.uploads`.

A chunk is written and hashed at the same time, one chunk in flight behind the receive, into
any writer: an upload file (:class:`~dockyard.storage.driver.FileWriter`) or a blob's final
path (:class:`~dockyard.storage.driver.BlobWriter`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

PARALLEL_HASH_MIN = 256 * 1024


class Sink(Protocol):
    """What the pump needs of a writer."""

    async def write(self, data: bytes) -> None: ...


@dataclass(slots=True)
class LiveHash:
    """A running hash and how many bytes it has seen (-1 after a failed write: stale)."""

    hasher: Any
    hashed: int


async def pump(body: AsyncIterator[bytes], writer: Sink, live: LiveHash, hashing: Executor) -> None:
    """Store and hash each chunk as it arrives, one chunk in flight behind the next receive.

    A chunk is written (the filesystem writer does so on a worker thread) and hashed on the
    hashing pool at the same time, while the event loop already waits for the next chunk, so
    a push costs about the slowest of receive, write and hash rather than their sum. Chunks
    are stored and hashed strictly in order: the next one starts only when the previous one
    is done. If a write fails the live hash is marked stale, so it is rebuilt from the stored
    bytes: it never counts bytes that were not stored.
    """
    in_flight: asyncio.Future[None] | None = None
    try:
        async for chunk in body:
            if in_flight is not None:
                await in_flight
            in_flight = asyncio.ensure_future(_store_and_hash(chunk, writer, live, hashing))
        if in_flight is not None:
            await in_flight
    finally:
        if in_flight is not None and not in_flight.done():
            await asyncio.shield(_settle(in_flight))


async def _store_and_hash(chunk: bytes, writer: Sink, live: LiveHash, hashing: Executor) -> None:
    """Any failure or cancellation on the way marks the live hash stale (``hashed = -1``):
    the hasher and its count may then disagree, or count bytes the writer never stored."""
    if len(chunk) < PARALLEL_HASH_MIN:
        try:
            await writer.write(chunk)
        except BaseException:
            live.hashed = -1
            raise
        live.hasher.update(chunk)
        live.hashed += len(chunk)
        return
    hashed = asyncio.get_running_loop().run_in_executor(hashing, live.hasher.update, chunk)
    try:
        await writer.write(chunk)
    except BaseException:
        live.hashed = -1
        await asyncio.shield(hashed)
        raise
    try:
        await hashed
    except BaseException:
        live.hashed = -1
        raise
    live.hashed += len(chunk)


async def _settle(future: asyncio.Future[None]) -> None:
    """Wait for a chunk already handed to the writer, whatever the outcome."""
    with contextlib.suppress(BaseException):
        await future
