"""The cache and lock protocols services depend on, and the in-process implementations."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class CacheUnavailableError(Exception):
    """The shared cache could not be reached for an operation that must not be skipped."""


class KeyValueCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...
    async def delete(self, *keys: str) -> None: ...


class LockManager(Protocol):
    def hold(self, name: str, ttl_seconds: float = 60.0) -> AbstractAsyncContextManager[None]:
        """``async with locks.hold(name):`` — exclusive across every node sharing the manager."""
        ...


class MemoryCache:
    """A bounded LRU with expiry, private to one process."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)


class SharedWindows(Protocol):
    """Counts of recent events per key, shared by every node (``cache.windows``).

    Every method raises :class:`CacheUnavailableError` when the shared store cannot be used.
    """

    async def wait(self, limits: Sequence[tuple[str, int]], window: float) -> float:
        """Seconds until each ``(key, limit)`` has fewer than ``limit`` events in ``window``."""
        ...

    async def record(self, limits: Sequence[tuple[str, int]], window: float) -> None: ...

    async def forget(self, key: str) -> None: ...


def window_key(prefix: str, kind: str, name: str) -> str:
    """``<prefix><kind>:<sha256 of kind and name>``: fixed length, no client-chosen bytes."""
    digest = hashlib.sha256(f"{kind}\0{name}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}{kind}:{digest}"


class NullCache:
    """Remembers nothing (no blob descriptor cache configured)."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        return None

    async def delete(self, *keys: str) -> None:
        return None


class LocalLocks:
    """asyncio locks by name, for a single process."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, name: str, ttl_seconds: float = 60.0) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        self._users[name] = self._users.get(name, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[name] -= 1
            if self._users[name] == 0:
                del self._users[name]
                del self._locks[name]
