"""Managing a project's webhooks: create, list, read, change, delete, rotate, test.

Who may: system administrators and members whose role holds ``project:configure`` for the
whole project (the built-in ``admin`` role), for reading as for changing; anyone else who can
see the project is refused (403), and a stranger learns nothing (404). Every change is written
to the audit log (``webhook.create``, ``webhook.update``, ``webhook.delete``,
``webhook.secret``, ``webhook.test``, ``webhook.replay``), without secrets or header values.
``deliveries`` (``deliveries.py``) reads a webhook's delivery history and replays its dead
letters under the same rules.

The URL is checked by the outbound guard when a webhook is saved (a name resolving to a
link-local or metadata address is refused unless the operator allows it) and again before
each request. Signing secrets are made here and shown once, by ``create`` and ``rotate``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from dockyard.auth.permissions import Permission
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.core.delivery import RetryPolicy
from dockyard.core.events import Event, EventKind, EventTarget
from dockyard.persistence.webhook_records import (
    WebhookRecord,
    WebhookSecrets,
    WebhookSpec,
    WebhookStore,
)
from dockyard.services.events.deliveries import DeliveryHistory
from dockyard.services.identity.audit import AuditLog
from dockyard.services.identity.common import bad_request, conflict, not_found
from dockyard.services.identity.projects import ProjectService
from dockyard.services.outbound.guard import OutboundPolicy, OutboundRefusedError, check_url
from dockyard.services.webhooks.deliveries import WebhookDeliveries
from dockyard.services.webhooks.sender import SendOutcome, send_now
from dockyard.services.webhooks.signing import new_secret
from dockyard.services.webhooks.subscriptions import WebhookSubscriptionSource
from dockyard.services.webhooks.validation import check_spec

MAX_PER_PROJECT = 50
# New webhooks: 10 s per attempt; waits of 5 s doubling up to 1 h; a dead letter after 10.
DEFAULT_RETRY = RetryPolicy(
    timeout_seconds=10.0, backoff_seconds=5.0, max_backoff_seconds=3600.0, max_attempts=10
)
MAX_OVERLAP = 90 * 86400.0


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    outbound: OutboundPolicy = field(default_factory=OutboundPolicy)
    test_timeout: float = 10.0
    rotation_overlap: float = 86400.0  # a rotated-out secret signs this long by default


@dataclass(frozen=True, slots=True)
class WebhookChange:
    """A partial update: None leaves a field as it is."""

    name: str | None = None
    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    payload_format: str | None = None
    headers: tuple[tuple[str, str], ...] | None = None
    enabled: bool | None = None
    repositories: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    timeout_seconds: float | None = None
    backoff_seconds: float | None = None
    max_backoff_seconds: float | None = None
    max_attempts: int | None = None

    def applied_to(self, spec: WebhookSpec) -> WebhookSpec:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        retry_names = set(RetryPolicy.__struct_fields__)
        retry = {k: v for k, v in fields.items() if k in retry_names and v is not None}
        plain = {k: v for k, v in fields.items() if k not in retry_names and v is not None}
        return dataclasses.replace(
            spec, **plain, retry=msgspec.structs.replace(spec.retry, **retry)
        )


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        projects: ProjectService,
        audit: AuditLog,
        policy: AccessPolicy,
        source: WebhookSubscriptionSource,
        *,
        options: WebhookOptions,
        history: DeliveryHistory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.projects = projects
        self.audit = audit
        self.policy = policy
        self.source = source
        self.options = options
        self.clock = clock
        # the delivery history of each webhook (None: no delivery engine in this process)
        self.deliveries = None if history is None else WebhookDeliveries(self, history)

    @property
    def formats(self) -> tuple[str, ...]:
        """The payload formats a webhook may use on this node."""
        return tuple(sorted(self.source.renderers))

    async def _require(self, actor: Principal, project: str) -> None:
        if not actor.authenticated:  # asked to log in (401), whatever the project
            self.policy.require_project(actor, Permission.PROJECT_CONFIGURE, project)
        await self.projects.get(actor, project)  # 404 for whoever cannot see the project
        self.policy.require_project(actor, Permission.PROJECT_CONFIGURE, project)

    async def audit_change(
        self, actor: Principal, event: str, record: WebhookRecord, **detail: object
    ) -> None:
        """An audit row for ``record`` (``webhook:<project>/<name>``); ``detail`` as given."""
        await self._audit(actor, event, record, **detail)

    async def _audit(
        self, actor: Principal, event: str, record: WebhookRecord, **detail: object
    ) -> None:
        target = f"webhook:{record.project}/{record.spec.name}"
        await self.audit.record(actor, event, target, detail={"id": record.id, **detail})

    async def _checked(self, spec: WebhookSpec) -> WebhookSpec:
        checked = check_spec(spec, self.formats)
        try:
            await check_url(checked.url, self.options.outbound)
        except OutboundRefusedError as exc:
            raise bad_request(f"url: {exc}", field="url") from None
        return checked

    async def create(
        self, actor: Principal, project: str, spec: WebhookSpec
    ) -> tuple[WebhookRecord, str]:
        """The new webhook and its signing secret (shown this once)."""
        await self._require(actor, project)
        checked = await self._checked(spec)
        if await self.store.count_webhooks(project) >= MAX_PER_PROJECT:
            raise conflict(f"a project has at most {MAX_PER_PROJECT} webhooks")
        secret = new_secret()
        made = await self.store.create_webhook(project, checked, WebhookSecrets(secret), actor.name)
        if made == "no_project":
            raise not_found("project", project)
        if isinstance(made, str):
            raise conflict("a webhook with this name exists", name=checked.name)
        await self._audit(actor, "webhook.create", made, **_described(checked))
        return made, secret

    async def list_webhooks(self, actor: Principal, project: str) -> list[WebhookRecord]:
        await self._require(actor, project)
        return await self.store.list_webhooks(project, MAX_PER_PROJECT)

    async def get(self, actor: Principal, project: str, webhook_id: int) -> WebhookRecord:
        await self._require(actor, project)
        found = await self.store.get_webhook(project, webhook_id)
        if found is None:
            raise not_found("webhook", webhook_id)
        return found

    async def update(
        self, actor: Principal, project: str, webhook_id: int, change: WebhookChange
    ) -> WebhookRecord:
        """Change the fields ``change`` sets; the rest stays."""
        current = await self.get(actor, project, webhook_id)
        checked = await self._checked(change.applied_to(current.spec))
        updated = await self.store.update_webhook(project, webhook_id, checked)
        if updated is None:
            raise not_found("webhook", webhook_id)
        if isinstance(updated, str):
            raise conflict("a webhook with this name exists", name=checked.name)
        await self._audit(actor, "webhook.update", updated, **_described(checked))
        return updated

    async def delete(self, actor: Principal, project: str, webhook_id: int) -> None:
        record = await self.get(actor, project, webhook_id)
        if not await self.store.delete_webhook(project, webhook_id):
            raise not_found("webhook", webhook_id)
        await self._audit(actor, "webhook.delete", record)

    async def rotate(
        self, actor: Principal, project: str, webhook_id: int, overlap: float | None = None
    ) -> tuple[WebhookRecord, str]:
        """A new secret; the current one keeps signing for ``overlap`` seconds (default: the
        configured ``rotationoverlap``), after which only the new one signs."""
        seconds = self.options.rotation_overlap if overlap is None else overlap
        if not 0 <= seconds <= MAX_OVERLAP:
            raise bad_request(f"overlap: between 0 and {MAX_OVERLAP:g} seconds", field="overlap")
        record = await self.get(actor, project, webhook_id)
        secret = new_secret()
        kept = WebhookSecrets(secret, record.secrets.current, self.clock() + seconds)
        if seconds == 0:
            kept = WebhookSecrets(secret)
        updated = await self.store.set_secrets(project, webhook_id, kept)
        if updated is None:
            raise not_found("webhook", webhook_id)
        await self._audit(actor, "webhook.secret", updated, overlap_seconds=seconds)
        return updated, secret

    async def test(
        self, actor: Principal, project: str, webhook_id: int
    ) -> tuple[SendOutcome, str]:
        """Send a ``ping`` event now, signed as deliveries are; nothing goes to the outbox.
        The outcome and the test event's id."""
        record = await self.get(actor, project, webhook_id)
        subscription = self.source.subscription(record)
        if subscription is None:
            raise bad_request(f"the {record.spec.payload_format} format is not available yet")
        now = self.clock()
        event = ping_event(actor, project, now)
        request = subscription.request(event, attempt=1, now=now)
        outcome = await send_now(request, self.options.outbound, self.options.test_timeout)
        await self._audit(actor, "webhook.test", record, event_id=event.id,
                          status=outcome.status_code, error=outcome.error)  # fmt: skip
        return outcome, event.id


def ping_event(actor: Principal, project: str, now: float) -> Event:
    """The test event: kind ``ping``, a fresh id, the project as its repository."""
    name = actor.name if actor.authenticated and actor.name else None
    return Event(uuid.uuid4().hex, EventKind.PING, now, project, EventTarget(digest=""), name)


def _described(spec: WebhookSpec) -> dict[str, object]:
    """What the audit log keeps of a spec: no header values (they often carry credentials)."""
    return {
        "url": spec.url,
        "event_types": list(spec.event_types),
        "payload_format": spec.payload_format,
        "enabled": spec.enabled,
        "header_names": [name for name, _ in spec.headers],
        "repositories": list(spec.repositories),
        "tags": list(spec.tags),
    }
