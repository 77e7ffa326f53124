"""Composition of project webhooks: the store, the renderers, the subscription source and
the management service (called by ``bootstrap.py`` only).

Renderers are a mapping ``payload format -> Callable[[Event], bytes]``: CloudEvents and
Harbor-style from ``services/webhooks/formats.py``, and registry:2's ``distribution`` envelope
from the notifications' renderer (``services/events/envelope.py``), so a webhook in that
format gets what a registry:2 receiver expects.
"""

from __future__ import annotations

from dockyard.auth.policy import AccessPolicy
from dockyard.bootstrap_events import envelope_context
from dockyard.config import Settings
from dockyard.core.events import Event
from dockyard.persistence.sql.session import Database
from dockyard.persistence.sql.webhooks import SqlWebhookStore
from dockyard.services.events.deliveries import DeliveryHistory
from dockyard.services.events.envelope import envelope
from dockyard.services.identity.wiring import IdentityServices
from dockyard.services.outbound.guard import OutboundPolicy
from dockyard.services.webhooks.formats import DISTRIBUTION, ProjectVisibility, standard_renderers
from dockyard.services.webhooks.service import WebhookOptions, WebhookService
from dockyard.services.webhooks.subscriptions import WebhookSubscriptionSource


def webhook_options(settings: Settings) -> WebhookOptions:
    raw = settings.dockyard.webhooks
    outbound = OutboundPolicy.from_strings(
        deny_private=raw.denyprivate, allowed=raw.allowed, denied=raw.denied
    )
    return WebhookOptions(
        outbound=outbound,
        test_timeout=raw.test_timeout_seconds,
        rotation_overlap=raw.rotation_overlap_seconds,
    )


def build_webhooks(
    settings: Settings,
    database: Database,
    policy: AccessPolicy,
    identity: IdentityServices,
    history: DeliveryHistory | None = None,
) -> WebhookService:
    """The webhook service; ``service.source`` is the delivery engine's subscription source,
    ``service.deliveries`` each webhook's share of ``history``."""
    store = SqlWebhookStore(database)
    visibility = ProjectVisibility()
    renderers = standard_renderers(settings.http.host, visibility)
    context = envelope_context(settings)

    def render_envelope(event: Event) -> bytes:
        return envelope(event, context)

    renderers[DISTRIBUTION] = render_envelope
    options = webhook_options(settings)
    source = WebhookSubscriptionSource(store, renderers, visibility, outbound=options.outbound)
    return WebhookService(
        store, identity.projects, identity.audit, policy, source, options=options, history=history
    )
