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
from typing import Protocol

import msgspec

from dockyard.core.events import Event


class RetryPolicy(msgspec.Struct, frozen=True):
    """How one subscription's deliveries are timed and when they give up."""

    timeout_seconds: float = 5.0  # one attempt: connect + send + the receiver's answer
    backoff_seconds: float = 1.0  # the wait after the first failure; doubles on each failure
    max_backoff_seconds: float = 300.0  # the doubling stops here (jitter is added on top)
    max_attempts: int = 0  # attempts before the delivery becomes a dead letter; 0: never give up


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
