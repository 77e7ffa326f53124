"""Project webhooks (Harbor's model): per-project HTTP destinations for domain events.

A webhook names a URL, the event kinds it wants, a payload format (registry:2 envelope,
CloudEvents 1.0, Harbor-style), custom headers, repository and tag filters, a retry policy and
Standard Webhooks signing secrets. ``service.py`` manages them (authorized by ``auth.policy``,
audited); ``subscriptions.py`` offers the enabled ones to the delivery engine as
``core.delivery.Subscription``s; ``sender.py`` sends the synchronous test event. Outbound URLs
are checked by ``services/outbound/guard.py``. See docs/webhooks.md.
"""
