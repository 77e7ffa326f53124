"""Failed-login throttling per user name and per client address (in this process).

After ``per_user`` failures for one name (or ``per_client`` from one address) within
``window`` seconds, logins are refused with 429 TOOMANYREQUESTS and ``Retry-After`` until the
oldest failure leaves the window, without checking the credentials. Names that do not exist
are throttled like names that do, so a 429 tells nothing about who exists.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from dockyard.core.errors import ErrorCode, RegistryError

MAX_KEYS = 100_000


class LoginThrottle:
    def __init__(
        self,
        *,
        per_user: int,
        per_client: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"user": per_user, "client": per_client}
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def check(self, username: str, client: str) -> None:
        """Raise 429 while either the name or the address is throttled."""
        now = self.clock()
        waits = [self._wait(("user", username), now)]
        if client:
            waits.append(self._wait(("client", client), now))
        wait = max(waits)
        if wait > 0:
            raise RegistryError(
                ErrorCode.TOOMANYREQUESTS,
                "too many failed logins; retry later",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def failed(self, username: str, client: str) -> None:
        now = self.clock()
        if len(self._failures) > MAX_KEYS:
            self._forget_expired(now)
        for key in (("user", username), ("client", client)):
            if key[1]:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop(("user", username), None)

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
