"""Project webhooks as the store keeps them, and the store protocol (``sql/webhooks.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dockyard.core.delivery import RetryPolicy


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """What a webhook's owner configures (validated by ``services/webhooks``)."""

    name: str
    url: str
    event_types: tuple[str, ...]
    payload_format: str
    headers: tuple[tuple[str, str], ...] = ()
    enabled: bool = True
    repositories: tuple[str, ...] = ()  # patterns relative to the project; () = every one
    tags: tuple[str, ...] = ()  # tag patterns; () = every event, tagged or not
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    description: str = ""


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """The signing secrets: ``current`` always signs, ``previous`` until ``previous_until``."""

    current: str
    previous: str | None = None
    previous_until: float | None = None


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: int
    project: str
    project_public: bool
    spec: WebhookSpec
    secrets: WebhookSecrets
    created_by: str
    created_at: float
    updated_at: float


class WebhookStore(Protocol):
    async def create_webhook(
        self, project: str, spec: WebhookSpec, secrets: WebhookSecrets, created_by: str
    ) -> WebhookRecord | str:
        """The new webhook, or ``no_project`` / ``exists`` (a webhook of that name)."""
        ...

    async def get_webhook(self, project: str, webhook_id: int) -> WebhookRecord | None: ...
    async def list_webhooks(self, project: str, limit: int) -> list[WebhookRecord]: ...
    async def count_webhooks(self, project: str) -> int: ...
    async def update_webhook(
        self, project: str, webhook_id: int, spec: WebhookSpec
    ) -> WebhookRecord | str | None:
        """The updated webhook, None when it is gone, ``exists`` for a taken name."""
        ...

    async def set_secrets(
        self, project: str, webhook_id: int, secrets: WebhookSecrets
    ) -> WebhookRecord | None: ...
    async def delete_webhook(self, project: str, webhook_id: int) -> bool: ...
    async def enabled_webhooks(self) -> list[WebhookRecord]:
        """Every enabled webhook of every project (the delivery engine's subscriptions)."""
        ...
