"""Request and response bodies of the project webhook endpoints (msgspec; the OpenAPI schemas).

Secrets are only in :class:`WebhookSecret` (create and rotate); header values are never sent
back (they often carry credentials): a webhook shows its header names.
"""

from __future__ import annotations

import msgspec

from dockyard.api.mgmt.schemas import Body, iso
from dockyard.core.delivery import RetryPolicy
from dockyard.services.webhooks.records import WebhookRecord, WebhookSpec
from dockyard.services.webhooks.sender import SendOutcome
from dockyard.services.webhooks.service import DEFAULT_RETRY, WebhookChange

DEFAULT_FORMAT = "cloudevents"


class Webhook(msgspec.Struct):
    id: int
    project: str
    name: str
    description: str
    url: str
    event_types: list[str]
    payload_format: str
    header_names: list[str]
    enabled: bool
    repositories: list[str]
    tags: list[str]
    timeout_seconds: float
    backoff_seconds: float
    max_backoff_seconds: float
    max_attempts: int
    previous_secret_until: str | None  # the rotated-out secret signs until then
    created_by: str
    created_at: str | None
    updated_at: str | None

    @classmethod
    def of(cls, r: WebhookRecord) -> Webhook:
        spec, retry = r.spec, r.spec.retry
        return cls(
            r.id, r.project, spec.name, spec.description, spec.url, list(spec.event_types),
            spec.payload_format, [name for name, _ in spec.headers], spec.enabled,
            list(spec.repositories), list(spec.tags), retry.timeout_seconds,
            retry.backoff_seconds, retry.max_backoff_seconds, retry.max_attempts,
            iso(r.secrets.previous_until) if r.secrets.previous else None, r.created_by,
            iso(r.created_at), iso(r.updated_at),
        )  # fmt: skip


class NewWebhook(Body):
    name: str
    url: str
    event_types: list[str]
    payload_format: str = DEFAULT_FORMAT
    description: str = ""
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    enabled: bool = True
    repositories: list[str] = msgspec.field(default_factory=list)  # relative; []: every one
    tags: list[str] = msgspec.field(default_factory=list)  # tag patterns; []: every event
    timeout_seconds: float = DEFAULT_RETRY.timeout_seconds
    backoff_seconds: float = DEFAULT_RETRY.backoff_seconds
    max_backoff_seconds: float = DEFAULT_RETRY.max_backoff_seconds
    max_attempts: int = DEFAULT_RETRY.max_attempts  # 0: never give up

    def spec(self) -> WebhookSpec:
        retry = RetryPolicy(
            self.timeout_seconds, self.backoff_seconds, self.max_backoff_seconds, self.max_attempts
        )
        return WebhookSpec(
            self.name, self.url, tuple(self.event_types), self.payload_format,
            tuple(self.headers.items()), self.enabled, tuple(self.repositories),
            tuple(self.tags), retry, self.description,
        )  # fmt: skip


class WebhookUpdate(Body):
    name: str | None = None
    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    payload_format: str | None = None
    headers: dict[str, str] | None = None  # replaces every custom header
    enabled: bool | None = None
    repositories: list[str] | None = None
    tags: list[str] | None = None
    timeout_seconds: float | None = None
    backoff_seconds: float | None = None
    max_backoff_seconds: float | None = None
    max_attempts: int | None = None

    def change(self) -> WebhookChange:
        def tupled(items: list[str] | None) -> tuple[str, ...] | None:
            return None if items is None else tuple(items)

        headers = None if self.headers is None else tuple(self.headers.items())
        return WebhookChange(
            self.name, self.url, self.description, tupled(self.event_types), self.payload_format,
            headers, self.enabled, tupled(self.repositories), tupled(self.tags),
            self.timeout_seconds, self.backoff_seconds, self.max_backoff_seconds,
            self.max_attempts,
        )  # fmt: skip


class SecretRotation(Body):
    overlap_seconds: float | None = None  # how long the current secret keeps signing


class WebhookSecret(msgspec.Struct):
    """The webhook and its new signing secret: shown this once, never again."""

    webhook: Webhook
    secret: str


class WebhookTest(msgspec.Struct):
    """What the receiver answered the test event (``status_code``), or why it did not."""

    delivered: bool
    status_code: int | None
    error: str
    event_id: str

    @classmethod
    def of(cls, outcome: SendOutcome, event_id: str) -> WebhookTest:
        return cls(outcome.delivered, outcome.status_code, outcome.error, event_id)
