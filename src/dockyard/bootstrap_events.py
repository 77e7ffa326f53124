"""The composition root's event delivery part (called by ``bootstrap.py`` only): the engine,
its registry:2 notifications endpoints, the outbound guard's policy and the history service."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence

from dockyard.config import Settings
from dockyard.config.notifications import EndpointSettings
from dockyard.core.delivery import RetryPolicy, SubscriptionSource
from dockyard.persistence.sql.deliveries import SqlDeliveryStore
from dockyard.persistence.sql.session import Database
from dockyard.services.events.deliveries import DeliveryHistory
from dockyard.services.events.engine import DeliveryEngine, EngineOptions
from dockyard.services.events.envelope import EnvelopeContext
from dockyard.services.events.notifications import (
    ConfiguredEndpoints,
    Endpoint,
    NotificationEndpoint,
)
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry


def delivery_store(settings: Settings, database: Database) -> SqlDeliveryStore:
    return SqlDeliveryStore(database, snapshot_bound=not database_is_sqlite(settings))


def delivery_history(settings: Settings, database: Database) -> DeliveryHistory:
    """The delivery history, dead letters and replay (built before the webhooks, which
    show each webhook's share of it, and so before the engine)."""
    return DeliveryHistory(delivery_store(settings, database))


def build_delivery(
    settings: Settings,
    database: Database,
    telemetry: Telemetry = NO_TELEMETRY,
    more_sources: Sequence[SubscriptionSource] = (),
) -> DeliveryEngine:
    """The engine sends to the configured endpoints and to ``more_sources`` (project
    webhooks): every source is known when it is built."""
    delivery = settings.dockyard.events
    options = EngineOptions(
        concurrency=delivery.concurrency,
        poll_seconds=delivery.poll_seconds,
        retention_seconds=delivery.retention_seconds,
    )
    return DeliveryEngine(
        delivery_store(settings, database),
        [ConfiguredEndpoints(notification_endpoints(settings)), *more_sources],
        outbound_policy(settings),
        options=options,
        telemetry=telemetry,
    )


def database_is_sqlite(settings: Settings) -> bool:
    return settings.database_url().startswith("sqlite:")


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """Notifications come from the operator's own file: private networks are fine; metadata
    and link-local addresses are not, unless ``dockyard.outbound.allowed`` says so."""
    outbound = settings.dockyard.outbound
    return OutboundPolicy.from_strings(
        deny_private=False, allowed=outbound.allowed, denied=outbound.denied
    )


def envelope_context(settings: Settings) -> EnvelopeContext:
    """What registry:2's envelope says of this node (notifications and project webhooks
    in the ``distribution`` format share it)."""
    return EnvelopeContext(
        source_addr=_source_addr(settings),
        instance_id=str(uuid.uuid4()),
        base_url=settings.http.host,
        include_references=settings.notifications.events.includereferences,
    )


def notification_endpoints(settings: Settings) -> list[NotificationEndpoint]:
    context = envelope_context(settings)
    return [
        NotificationEndpoint(_endpoint(settings, entry), context)
        for entry in settings.notifications.endpoints
        if not entry.disabled
    ]


def _endpoint(settings: Settings, entry: EndpointSettings) -> Endpoint:
    delivery = settings.dockyard.events
    policy = RetryPolicy(
        timeout_seconds=entry.timeout_seconds,
        backoff_seconds=entry.backoff_seconds,
        max_backoff_seconds=delivery.max_backoff_seconds,
        max_attempts=delivery.maxattempts,
        steady_failures=entry.failures_before_doubling,
    )
    headers = tuple((name, value) for name, values in entry.headers.items() for value in values)
    return Endpoint(
        name=entry.name,
        url=entry.url,
        headers=headers,
        policy=policy,
        ignored_media_types=frozenset([*entry.ignoredmediatypes, *entry.ignore.mediatypes]),
        ignored_actions=frozenset(entry.ignore.actions),
    )


def _source_addr(settings: Settings) -> str:
    """This node as registry:2 names it: the host name and the port it listens on."""
    port = settings.http.addr.rsplit(":", 1)[-1] if ":" in settings.http.addr else ""
    host = socket.gethostname()
    return f"{host}:{port}" if port else host
