"""The per-upstream circuit breaker: opens after repeated failures or at once on a 429."""

from __future__ import annotations

from dockyard.services.upstream.breaker import CircuitBreaker


def test_opens_after_three_failures_in_a_row_and_closes_on_success() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=lambda: now[0])
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # the count starts over
    breaker.failed()
    breaker.failed()
    assert breaker.remaining() == 0
    breaker.failed()
    assert breaker.remaining() == 10 and not breaker.throttled
    now[0] = 10.5
    assert breaker.remaining() == 0  # half-open: one request may go
    breaker.failed()  # it failed: open again at once
    assert breaker.remaining() == 10


def test_a_429_opens_it_for_retry_after_capped() -> None:
    now = [0.0]
    breaker = CircuitBreaker(clock=lambda: now[0])
    breaker.rate_limited("7")
    assert breaker.remaining() == 7 and breaker.throttled
    breaker.rate_limited("86400")
    assert breaker.remaining() == 300
    breaker.rate_limited("")  # none given: the cooldown
    assert breaker.remaining() == breaker.cooldown
    breaker.succeeded()
    assert breaker.remaining() == 0 and not breaker.throttled
