"""The webhook records adapters see (re-exported so they need not import persistence)."""

from dockyard.persistence.webhook_records import WebhookRecord, WebhookSecrets, WebhookSpec

__all__ = ["WebhookRecord", "WebhookSecrets", "WebhookSpec"]
