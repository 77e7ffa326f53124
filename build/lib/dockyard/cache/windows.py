"""Sliding windows of events shared by every node through Redis (failed logins, for throttling).

One sorted set per counted thing, scored by Redis's own clock (``TIME``, so nodes with skewed
clocks agree), holding at most ``limit`` entries and expiring with the window. Both scripts run
atomically in Redis. Callers pass keys made by :func:`~dockyard.cache.base.window_key`
(hashed), so what a client sends never becomes part of a key.

Unlike the cache, nothing here fails open by itself: every failure raises
:class:`~dockyard.cache.base.CacheUnavailableError` and the caller decides (the login throttle
falls back to its in-process counts).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from dockyard.cache.base import CacheUnavailableError
from dockyard.cache.redis import RedisHealth

# KEYS: the windows; ARGV: window (ms), then one limit per key. Returns the wait in ms.
_WAIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local limit = tonumber(ARGV[i + 1])
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    local left = tonumber(oldest[2]) + window - now
    if left > wait then wait = left end
  end
end
return wait
"""
# KEYS: the windows; ARGV: window (ms), a unique event id, then one limit per key.
_RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[i + 2]) + 1))
  redis.call('PEXPIRE', key, ARGV[1])
end
return 1
"""


class RedisWindows:
    """Event counts per key over the last ``window`` seconds, shared through Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.health = RedisHealth()

    async def wait(self, limits: Sequence[tuple[str, int]], window: float) -> float:
        """Seconds until every key is below its limit again (0.0: none is at its limit)."""
        keys, caps = [k for k, _ in limits], [str(max(1, n)) for _, n in limits]
        waited = await self._eval("throttle check", _WAIT, keys, [_ms(window), *caps])
        return max(0, waited) / 1000

    async def record(self, limits: Sequence[tuple[str, int]], window: float) -> None:
        """Add one event, now, to each key (each keeps no more than its limit of entries)."""
        keys, caps = [k for k, _ in limits], [str(max(1, n)) for _, n in limits]
        await self._eval("throttle record", _RECORD, keys, [_ms(window), _event_id(), *caps])

    async def forget(self, key: str) -> None:
        if not self.health.available:
            raise CacheUnavailableError("redis unavailable (recent failure)")
        try:
            await self.client.delete(key)
        except (RedisError, OSError) as error:
            self.health.failed("throttle reset", error)
            raise CacheUnavailableError(str(error)) from error

    async def _eval(self, what: str, script: str, keys: list[str], args: list[str]) -> int:
        if not keys:
            return 0
        if not self.health.available:
            raise CacheUnavailableError("redis unavailable (recent failure)")
        try:
            return int(await self.client.eval(script, len(keys), *keys, *args))
        except (RedisError, OSError) as error:
            self.health.failed(what, error)
            raise CacheUnavailableError(str(error)) from error


def _ms(seconds: float) -> str:
    return str(max(1, int(seconds * 1000)))


def _event_id() -> str:
    return secrets.token_hex(8)
