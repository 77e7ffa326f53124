"""Where events go: the contract between the delivery engine and the places it delivers to.

A :class:`Subscription` is one destination of events: a registry:2 ``notifications.endpoints``
entry from the config file, or a project webhook kept in the database. It decides which events
it wants and turns one event into one HTTP request (its own payload format, headers and, for
webhooks, a Standard Webhooks signature made at send time). The delivery engine
(``services/events/``) knows nothing of formats or signatures: it reads the outbox, asks every
subscription from every :class:`SubscriptionSource` whether it wants the event, records one
delivery per (subscription, event), and sends it with the subscription's :class:`RetryPolicy`
until it is answered with a 2xx or becomes a dead letter.

Pure: no I/O, nothing from dockyard but ``core``. See ``docs/events.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

import msgspec

from dockyard.core.events import Event


class RetryPolicy(msgspec.Struct, frozen=True):
    """How one subscription's deliveries are timed and when they give up."""

    timeout_seconds: float = 5.0  # one attempt: connect + send + the receiver's answer
    backoff_seconds: float = 1.0  # the wait after the first failure; doubles on each failure
    max_backoff_seconds: float = 300.0  # the doubling stops here (jitter is added on top)
    max_attempts: int = 0  # attempts before the delivery becomes a dead letter; 0: never give up
    steady_failures: int = 1  # failures in a row retried after backoff_seconds before doubling


class OutboundRequest(msgspec.Struct, frozen=True):
    """One HTTP POST to make: always ``POST url`` with these headers and this body."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Subscription(Protocol):
    """One destination of events (a notifications endpoint or a project webhook)."""

    @property
    def key(self) -> str:
        """Stable and unique among all sources: ``notifications:<name>``, ``webhook:<id>``."""
        ...

    @property
    def policy(self) -> RetryPolicy: ...

    def wants(self, event: Event) -> bool:
        """Whether this event is delivered here at all (kinds, repositories, tags, media types)."""
        ...

    def request(self, event: Event, *, attempt: int, now: float) -> OutboundRequest:
        """The request for one attempt (1, 2, ...) made at ``now`` (seconds since the epoch).

        The payload carries ``event.id`` unchanged on every attempt, so receivers can drop
        duplicates; only time-bound parts (a signature's timestamp) may differ between attempts.
        """
        ...


class SubscriptionSource(Protocol):
    """Where subscriptions come from; asked again whenever the engine looks for new events."""

    async def subscriptions(self) -> Sequence[Subscription]: ...


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its turn, its next attempt, or a node to send it
    DELIVERED = "delivered"  # answered with a 2xx
    DEAD = "dead"  # gave up after the policy's attempts; ``dockyard events replay`` revives it


class OutboxPosition(msgspec.Struct, frozen=True, order=True):
    """How far the dispatcher has read: (writing transaction, sequence); see docs/events.md."""

    txid: int = 0
    sequence: int = 0


class NewDelivery(msgspec.Struct, frozen=True):
    """One (subscription, event) pair the dispatcher found wanted."""

    subscription: str
    sequence: int
    event_id: str
    repository: str
    kind: str


class ClaimedDelivery(msgspec.Struct, frozen=True):
    """A delivery this node holds the lease of: send it now, as attempt ``attempt``."""

    id: int
    subscription: str
    attempt: int
    event: Event


class DeliveryRecord(msgspec.Struct, frozen=True):
    """A delivery as history shows it (``dockyard events deliveries``, the webhooks API)."""

    id: int
    subscription: str
    event_id: str
    sequence: int
    repository: str
    kind: str
    state: DeliveryState
    attempts: int
    next_attempt_at: float
    last_status: int  # the receiver's HTTP status; 0: no answer (refused, timed out, ...)
    last_error: str
    created_at: float
    finished_at: float | None


class Outcome(msgspec.Struct, frozen=True):
    """What one attempt came to."""

    status: int = 0  # the HTTP status, 0 when there was no answer
    error: str = ""  # why it failed; empty for a 2xx

    @property
    def delivered(self) -> bool:
        return 200 <= self.status < 300


def retry_delay(policy: RetryPolicy, failures: int, random_fraction: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...).

    The wait doubles from ``backoff_seconds`` after each failure beyond
    ``steady_failures`` and stops at ``max_backoff_seconds``; up to a quarter of it is added
    as jitter (``random_fraction`` in [0, 1)) so that receivers coming back are not hit by
    every sender at the same moment.
    """
    doublings = max(0, failures - policy.steady_failures)
    base = policy.backoff_seconds * (2.0 ** min(doublings, 62))
    base = min(base, max(policy.max_backoff_seconds, policy.backoff_seconds))
    return base * (1.0 + 0.25 * random_fraction)


def gives_up(policy: RetryPolicy, attempts: int) -> bool:
    """Whether a delivery that failed ``attempts`` times becomes a dead letter now."""
    return policy.max_attempts > 0 and attempts >= policy.max_attempts
