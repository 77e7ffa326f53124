"""Failed-login throttling per (user name, client address) and per client address.

After ``per_user`` failures for one name from one address (or ``per_client`` from one address
for any names) within ``window`` seconds, logins from that address are refused with 429
TOOMANYREQUESTS and ``Retry-After`` until the oldest failure leaves the window, without
checking the credentials. Nothing is counted per name alone: failures elsewhere never lock a
name out of an address that did not fail, so nobody can lock an administrator or a CI robot
out by guessing wrong on purpose. Names that do not exist are throttled like names that do, so
a 429 tells nothing about who exists.

:class:`LoginThrottle` counts in this process. :class:`SharedLoginThrottle` (what logins use)
decides by the counts of every node when Redis is configured (``cache.windows``), and keeps
counting in the process as well: when Redis cannot be reached it decides by this process's
counts alone (fail open: logged by the cache, counted in
``registry_login_throttle_fallbacks_total``), never by an error.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from dockyard.cache.base import CacheUnavailableError, SharedWindows, window_key
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.identity.common import IdentityOptions
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

MAX_KEYS = 100_000
SHARED_PREFIX = "dockyard:login:"
T = TypeVar("T")


def throttled(wait: float) -> RegistryError:
    """The 429 for a caller who may try again in ``wait`` seconds."""
    return RegistryError(
        ErrorCode.TOOMANYREQUESTS,
        "too many failed logins; retry later",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


class LoginThrottle:
    def __init__(
        self,
        *,
        per_user: int,
        per_client: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"pair": per_user, "client": per_client}
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def check(self, username: str, client: str) -> None:
        """Raise 429 while the name from this address, or the address, is throttled."""
        wait = self.wait(username, client)
        if wait > 0:
            raise throttled(wait)

    def wait(self, username: str, client: str) -> float:
        """Seconds until neither the name from this address nor the address is throttled
        (0.0: not throttled)."""
        now = self.clock()
        return max(self._wait(key, now) for key in counted(username, client))

    def failed(self, username: str, client: str) -> None:
        now = self.clock()
        if len(self._failures) > MAX_KEYS:
            self._forget_expired(now)
        for key in counted(username, client):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str, client: str) -> None:
        """A correct login clears the failures of this name from this address."""
        self._failures.pop(pair_key(username, client), None)

    def _wait(self, key: tuple[str, str], now: float) -> float:
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0.0
        excess = len(failures) - self.limits[key[0]]
        if excess < 0:
            return 0.0
        return failures[excess] + self.window - now

    def _forget_expired(self, now: float) -> None:
        for key in list(self._failures):
            self._wait(key, now)
        while len(self._failures) > MAX_KEYS:  # still too many: drop the oldest keys
            self._failures.pop(next(iter(self._failures)))


class SharedLoginThrottle:
    """This process's counts, and with ``shared`` (Redis) the counts of every node."""

    def __init__(
        self,
        local: LoginThrottle,
        shared: SharedWindows | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.local = local
        self.shared = shared
        self.telemetry = telemetry

    async def check(self, username: str, client: str) -> None:
        """Raise 429 while the name or the address is throttled: by the counts of every node,
        or by this process's own counts when there are no shared ones (or Redis is down)."""
        wait = None
        if self.shared is not None:
            limits = self._limits(username, client)
            wait = await self._try(self.shared.wait(limits, self.local.window))
        if wait is None:
            wait = self.local.wait(username, client)
        if wait > 0:
            raise throttled(wait)

    async def failed(self, username: str, client: str) -> None:
        self.local.failed(username, client)
        if self.shared is not None:
            limits = self._limits(username, client)
            await self._try(self.shared.record(limits, self.local.window))

    async def succeeded(self, username: str, client: str) -> None:
        self.local.succeeded(username, client)
        if self.shared is not None:
            await self._try(self.shared.forget(_shared_key(*pair_key(username, client))))

    def _limits(self, username: str, client: str) -> list[tuple[str, int]]:
        return [
            (_shared_key(kind, name), self.local.limits[kind])
            for kind, name in counted(username, client)
        ]

    async def _try(self, call: Awaitable[T]) -> T | None:
        """The shared store's answer, or None when it cannot be reached (counted)."""
        try:
            return await call
        except CacheUnavailableError:
            self.telemetry.count("login_throttle_fallbacks")
            return None


def pair_key(username: str, client: str) -> tuple[str, str]:
    return ("pair", f"{username}\0{client}")


def counted(username: str, client: str) -> list[tuple[str, str]]:
    """What one login attempt counts against: the name from this address, and the address
    (when known)."""
    keys = [pair_key(username, client)]
    if client:
        keys.append(("client", client))
    return keys


def _shared_key(kind: str, name: str) -> str:
    return window_key(SHARED_PREFIX, kind, name)


def build_throttle(
    options: IdentityOptions,
    shared: SharedWindows | None = None,
    telemetry: Telemetry = NO_TELEMETRY,
) -> SharedLoginThrottle:
    local = LoginThrottle(
        per_user=options.login_attempts,
        per_client=options.client_attempts,
        window=options.login_window,
    )
    return SharedLoginThrottle(local, shared, telemetry)
