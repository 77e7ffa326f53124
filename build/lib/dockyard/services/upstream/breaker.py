"""A per-upstream circuit breaker: stop asking an upstream that is down or throttling us.

After ``threshold`` connection failures (or 5xx answers) in a row, or at once on a 429, the
circuit opens: requests fail at once (the cache serves what it has) instead of each waiting
for connection attempts and timeouts, or adding to a rate limit. A 429 keeps it open for the
upstream's ``Retry-After`` (capped); failures for ``cooldown`` seconds. Then one request is
let through (half-open): its success closes the circuit, its failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

THRESHOLD = 3
COOLDOWN = 10.0
MAX_RETRY_AFTER = 300.0


class CircuitBreaker:
    def __init__(
        self,
        threshold: int = THRESHOLD,
        cooldown: float = COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.open_until = 0.0
        self.throttled = False  # opened by a 429 (callers answer 429, not 503)

    def remaining(self) -> float:
        """Seconds the circuit stays open (0: requests may go)."""
        return max(0.0, self.open_until - self.clock())

    def succeeded(self) -> None:
        self.failures, self.open_until, self.throttled = 0, 0.0, False

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until, self.throttled = self.clock() + self.cooldown, False

    def rate_limited(self, retry_after: str) -> None:
        seconds = float(retry_after) if retry_after.isdigit() else self.cooldown
        self.open_until = self.clock() + min(seconds, MAX_RETRY_AFTER)
        self.throttled = True
