"""Enabled project webhooks as the delivery engine's subscriptions (``core.delivery``).

``wants`` keeps an event when its repository is in the webhook's project, its kind is one
the webhook asked for, its repository matches one of the repository patterns (none: every
repository) and, with tag patterns set, one of its tags matches one of them (an event without
tags then does not pass). ``request`` renders the payload in the webhook's format and signs
it (``signing.py``) at the attempt's time, with every secret in force at that time.
``outbound`` is the ``dockyard.webhooks`` policy: the delivery engine checks the URL under it
right before every attempt and connects to the address it approved.

The source re-reads the enabled webhooks at most every ``ttl_seconds``: a webhook disabled or
deleted stops receiving new events within that time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from dockyard import __version__
from dockyard.auth.permissions import project_of
from dockyard.core.delivery import OutboundRequest, RetryPolicy, Subscription
from dockyard.core.events import Event
from dockyard.core.patterns import matches
from dockyard.persistence.webhook_records import WebhookRecord, WebhookSecrets, WebhookStore
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.webhooks.formats import CONTENT_TYPES, ProjectVisibility, Renderers
from dockyard.services.webhooks.signing import signature_headers

log = logging.getLogger("dockyard.webhooks")
USER_AGENT = f"dockyard-webhooks/{__version__}"
CACHE_SECONDS = 2.0


def secrets_in_force(secrets: WebhookSecrets, now: float) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    found = [secrets.current]
    until = secrets.previous_until
    if secrets.previous and until is not None and now < until:
        found.append(secrets.previous)
    return found


class WebhookSubscription:
    def __init__(
        self,
        record: WebhookRecord,
        render: Callable[[Event], bytes],
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.record = record
        self.render = render
        self.outbound = outbound or OutboundPolicy()
        self._repositories = tuple(f"{record.project}/{p}" for p in record.spec.repositories)

    @property
    def key(self) -> str:
        return f"webhook:{self.record.id}"

    @property
    def policy(self) -> RetryPolicy:
        return self.record.spec.retry

    def wants(self, event: Event) -> bool:
        spec = self.record.spec
        project = event.target.project or project_of(event.repository)
        if project != self.record.project:  # project events have no repository
            return False
        if str(event.kind) not in spec.event_types:
            return False
        if self._repositories and not any(matches(p, event.repository) for p in self._repositories):
            return False
        tags = event.target.tags
        return not spec.tags or any(matches(p, t) for p in spec.tags for t in tags)

    def request(self, event: Event, *, attempt: int, now: float) -> OutboundRequest:
        spec = self.record.spec
        body = self.render(event)
        headers = (
            ("content-type", CONTENT_TYPES[spec.payload_format]),
            ("user-agent", USER_AGENT),
            *spec.headers,
            *signature_headers(secrets_in_force(self.record.secrets, now), event.id, now, body),
        )
        return OutboundRequest(spec.url, headers, body)


class WebhookSubscriptionSource:
    """Every enabled webhook with a registered renderer, re-read at most every ``ttl``."""

    def __init__(
        self,
        store: WebhookStore,
        renderers: Renderers,
        visibility: ProjectVisibility,
        *,
        outbound: OutboundPolicy | None = None,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.renderers = renderers
        self.visibility = visibility
        self.outbound = outbound or OutboundPolicy()
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._cached: tuple[WebhookSubscription, ...] = ()
        self._fresh_until = float("-inf")

    def subscription(self, record: WebhookRecord) -> WebhookSubscription | None:
        """The subscription for ``record``; None when its format has no renderer here."""
        render = self.renderers.get(record.spec.payload_format)
        if render is None:
            return None
        self.visibility.note(record.project, record.project_public)
        return WebhookSubscription(record, render, self.outbound)

    async def subscriptions(self) -> Sequence[Subscription]:
        if self.clock() < self._fresh_until:
            return self._cached
        found: list[WebhookSubscription] = []
        for record in await self.store.enabled_webhooks():
            made = self.subscription(record)
            if made is None:
                log.warning("webhook %d: no renderer for %s", record.id, record.spec.payload_format)
                continue
            found.append(made)
        self._cached = tuple(found)
        self._fresh_until = self.clock() + self.ttl_seconds
        return self._cached
