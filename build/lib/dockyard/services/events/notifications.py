"""registry:2 notifications: ``notifications.endpoints`` as subscriptions of the engine.

Each enabled endpoint is one :class:`~dockyard.core.delivery.Subscription`
(``notifications:<name>``) that wants the events Distribution would send it (its action and
media type not ignored) and POSTs each as Distribution does: an envelope
``{"events": [...]}`` of media type ``application/vnd.docker.distribution.events.v1+json``
with the endpoint's headers. One event per envelope; the event's id is the same on every
attempt. See docs/events.md for the mapping of dockyard's kinds to Distribution's actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.core.delivery import OutboundRequest, RetryPolicy, Subscription
from dockyard.core.events import Event
from dockyard.services.events.envelope import EnvelopeContext, action_of, envelope

ENVELOPE_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ``notifications.endpoints`` entry, parsed (``bootstrap`` builds these)."""

    name: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    ignored_media_types: frozenset[str] = frozenset()
    ignored_actions: frozenset[str] = frozenset()


class NotificationEndpoint:
    """An endpoint as a subscription of the delivery engine."""

    def __init__(self, endpoint: Endpoint, context: EnvelopeContext) -> None:
        self.endpoint = endpoint
        self.context = context
        self._headers = (*endpoint.headers, ("Content-Type", ENVELOPE_MEDIA_TYPE))

    @property
    def key(self) -> str:
        return f"notifications:{self.endpoint.name}"

    @property
    def policy(self) -> RetryPolicy:
        return self.endpoint.policy

    def wants(self, event: Event) -> bool:
        action = action_of(event.kind.value)
        if action is None or action in self.endpoint.ignored_actions:
            return False
        return event.target.media_type not in self.endpoint.ignored_media_types

    def request(self, event: Event, *, attempt: int, now: float) -> OutboundRequest:
        del attempt, now  # the envelope is the same on every attempt
        return OutboundRequest(self.endpoint.url, self._headers, envelope(event, self.context))


class ConfiguredEndpoints:
    """The endpoints from the configuration file: fixed for the life of the process."""

    def __init__(self, endpoints: Sequence[NotificationEndpoint]) -> None:
        self._endpoints: tuple[Subscription, ...] = tuple(endpoints)

    async def subscriptions(self) -> Sequence[Subscription]:
        return self._endpoints
