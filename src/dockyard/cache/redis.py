"""Redis-backed cache and locks shared by every node (the ``redis`` section: config/redis.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from dockyard.cache.base import CacheUnavailableError, LocalLocks

log = logging.getLogger("dockyard.cache")
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_WARN_EVERY = 30.0


@dataclass(frozen=True, slots=True)
class RedisOptions:
    addr: str = "127.0.0.1:6379"
    password: str = ""
    db: int = 0
    timeout_seconds: float = 0.5  # every command
    prefix: str = "dockyard:"
    username: str = ""
    connect_timeout_seconds: float = 0.5
    max_connections: int | None = None  # per process; None: no limit
    tls: bool = False
    tls_ca_files: tuple[str, ...] = ()  # verify the server with these; (): the system's CAs
    tls_certificate: str = ""  # a client certificate and its key (PEM files)
    tls_key: str = ""


class RedisHealth:
    """Counts failures, logs at most one warning every 30 s, and after a failure lets callers
    skip Redis for a short while instead of paying a timeout on every request."""

    def __init__(self, pause_seconds: float = 2.0) -> None:
        self.errors = 0
        self.pause_seconds = pause_seconds
        self._last_warning = 0.0
        self._paused_until = 0.0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._paused_until

    def failed(self, operation: str, error: Exception) -> None:
        self.errors += 1
        now = time.monotonic()
        self._paused_until = now + self.pause_seconds
        if now - self._last_warning > _WARN_EVERY:
            self._last_warning = now
            log.warning("redis %s failed, continuing without it: %s", operation, error)


def connect(options: RedisOptions) -> aioredis.Redis:
    host, _, port = options.addr.rpartition(":")
    return aioredis.Redis(
        host=host or "127.0.0.1",
        port=int(port or 6379),
        db=options.db,
        username=options.username or None,
        password=options.password or None,
        socket_timeout=options.timeout_seconds,
        socket_connect_timeout=options.connect_timeout_seconds,
        max_connections=options.max_connections,
        retry=Retry(NoBackoff(), 0),
        **_tls_arguments(options),
    )


def _tls_arguments(options: RedisOptions) -> dict[str, Any]:
    if not options.tls:
        return {}
    found: dict[str, Any] = {"ssl": True, "ssl_cert_reqs": "required"}
    if options.tls_ca_files:
        found["ssl_ca_data"] = "\n".join(_read(path) for path in options.tls_ca_files)
    if options.tls_certificate:
        found["ssl_certfile"], found["ssl_keyfile"] = options.tls_certificate, options.tls_key
    return found


def _read(path: str) -> str:
    with open(path, encoding="ascii") as pem:
        return pem.read()


class RedisCache:
    def __init__(self, client: aioredis.Redis, prefix: str = "dockyard:") -> None:
        self.client = client
        self.prefix = prefix
        self.health = RedisHealth()

    async def get(self, key: str) -> bytes | None:
        if not self.health.available:
            return None
        try:
            value = await self.client.get(self.prefix + key)
        except (RedisError, OSError) as error:
            self.health.failed("get", error)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if not self.health.available:
            return
        try:
            await self.client.set(self.prefix + key, value, px=int(ttl_seconds * 1000))
        except (RedisError, OSError) as error:
            self.health.failed("set", error)

    async def delete(self, *keys: str) -> None:
        """Delete keys; raises when Redis is unreachable so callers never skip invalidation."""
        if not keys:
            return
        try:
            await self.client.delete(*(self.prefix + k for k in keys))
        except (RedisError, OSError) as error:
            self.health.failed("delete", error)
            raise CacheUnavailableError(str(error)) from error


class RedisLocks:
    """Locks shared by all nodes: ``SET NX PX`` with a random token, released by a script.

    The key lives for a short lease that the holder renews while it holds the lock, so a node
    that dies (SIGKILL, power loss) frees its locks within ``lease_seconds`` instead of after
    the whole ``ttl_seconds``; ``ttl_seconds`` only bounds how long a waiter waits.
    When Redis is unreachable the node's own lock is used instead, so work goes on.
    """

    def __init__(
        self, client: aioredis.Redis, prefix: str = "dockyard:lock:", lease_seconds: float = 10.0
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.local = LocalLocks()
        self.health = RedisHealth()

    @asynccontextmanager
    async def hold(self, name: str, ttl_seconds: float = 60.0) -> AsyncIterator[None]:
        async with self.local.hold(name, ttl_seconds):
            key, lease = self.prefix + name, min(ttl_seconds, self.lease_seconds)
            token = await self._acquire(key, ttl_seconds, lease)
            renewal = asyncio.create_task(self._renew(key, token, lease)) if token else None
            try:
                yield
            finally:
                if renewal is not None:
                    renewal.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewal
                if token is not None:
                    await self._release(key, token)

    async def _renew(self, key: str, token: str, lease: float) -> None:
        """Extend the lease every third of it while the lock is held by this token."""
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await self.client.eval(_RENEW, 1, key, token, int(lease * 1000))
            except (RedisError, OSError) as error:
                self.health.failed("lock renewal", error)

    async def _acquire(self, key: str, ttl_seconds: float, lease: float) -> str | None:
        if not self.health.available:
            return None
        token = secrets.token_hex(16)
        deadline = time.monotonic() + ttl_seconds
        delay = 0.005
        while True:
            try:
                if await self.client.set(key, token, nx=True, px=int(lease * 1000)):
                    return token
            except (RedisError, OSError) as error:
                self.health.failed("lock", error)
                return None
            if time.monotonic() > deadline:
                log.warning("lock %s still held after %.0f s; proceeding", key, ttl_seconds)
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def _release(self, key: str, token: str) -> None:
        try:
            await self.client.eval(_RELEASE, 1, key, token)
        except (RedisError, OSError) as error:
            self.health.failed("unlock", error)
