"""Helpers for the storage conformance suite: scenarios in a fresh loop, test data, I/O shortcuts.

Re-exported by :mod:`dockyard.storage.testing`, which driver test modules import.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from dockyard.storage.driver import PathNotFoundError, StorageDriver

MIB = 1 << 20
#: More than three read chunks (1 MiB) and not a multiple of one.
LARGE_SIZE = 3 * MIB + 12_345

S = TypeVar("S")
P = ParamSpec("P")


def scenario(
    fn: Callable[Concatenate[S, P], Awaitable[None]],
) -> Callable[Concatenate[S, P], None]:
    """Turn ``async def test_x(self, driver, ...)`` into a plain test run in a fresh loop.

    ``functools.wraps`` keeps the signature visible to pytest, so fixtures and parameters
    are injected as usual.
    """

    @functools.wraps(fn)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> None:
        async def main() -> None:
            await fn(self, *args, **kwargs)

        asyncio.run(main())

    return run


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking bytes: a chunk boundary bug cannot hide in them."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


async def read_all(
    driver: StorageDriver, path: str, offset: int = 0, length: int | None = None
) -> bytes:
    """Concatenate what ``driver.read`` streams."""
    return b"".join([chunk async for chunk in driver.read(path, offset, length)])


async def write_file(driver: StorageDriver, path: str, *parts: bytes, append: bool = False) -> int:
    """Write ``parts`` through a writer, flush and close it; return the writer's final size."""
    writer = await driver.writer(path, append=append)
    try:
        for part in parts:
            await writer.write(part)
        await writer.flush()
    finally:
        await writer.close()
    return writer.size


async def exists(driver: StorageDriver, path: str) -> bool:
    try:
        await driver.stat(path)
    except PathNotFoundError:
        return False
    return True


def noise(size: int, seed: int = 0) -> bytes:
    """Like :func:`pattern` but fast enough for many MiB."""
    return random.Random(seed).randbytes(size)
