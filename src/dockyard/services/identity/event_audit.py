"""The audit log's registry entries (pushes, pulls, deletes), made from the domain events.

:class:`EventAudit` is a consumer of the outbox with its own durable position
(``event_cursors``, consumer ``audit``): it reads the events after its position, turns the
registry ones into audit rows and writes the rows and the new position in one transaction,
so every event becomes its rows exactly once, even with several nodes running it. A loop
started with the server reads on every ``interval`` (1 s) and once more at shutdown.

What becomes a row (``event`` names as the route-sniffing hook wrote them before):
``manifest.pushed`` -> ``manifest.push``, ``manifest.pulled`` -> ``manifest.pull`` (one row
per coalesced event, with its ``count``; none when ``dockyard.identity.auditpulls`` is off),
``manifest.deleted`` -> ``manifest.delete``, ``tag.deleted`` -> ``tag.delete``,
``blob.deleted`` -> ``blob.delete``. Identity, quota and policy changes are written by their
services as before; refusals (nothing changed, so no event) by the access policy's observer
(``denials.py``).

Reading in an order no late commit overtakes, and the loop: ``services/events/consumer.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec

from dockyard.auth.secrets import ROBOT_PREFIX
from dockyard.core.delivery import OutboxPosition
from dockyard.core.events import Event, EventKind, StoredEvent
from dockyard.persistence.identity_records import AuditEvent
from dockyard.persistence.stores import AuditStore, OutboxStore
from dockyard.services.events.consumer import INTERVAL_SECONDS, OutboxConsumer

log = logging.getLogger("dockyard.audit")
CONSUMER = "audit"
_NAMES = {
    EventKind.MANIFEST_PUSHED: "manifest.push",
    EventKind.MANIFEST_PULLED: "manifest.pull",
    EventKind.MANIFEST_DELETED: "manifest.delete",
    EventKind.TAG_DELETED: "tag.delete",
    EventKind.BLOB_DELETED: "blob.delete",
}


def actor_kind(event: Event) -> str:
    """``anonymous``, ``robot``, ``user``, or ``system`` for work without a request
    (retention, garbage collection, the CLI's bulk deletions)."""
    if event.actor is None:
        return "anonymous"
    if event.actor.startswith(ROBOT_PREFIX):
        return "robot"
    return "user" if event.request_id else "system"


def _detail(event: Event) -> dict[str, Any]:
    target = event.target
    detail: dict[str, Any] = {"digest": target.digest}
    if event.kind is EventKind.MANIFEST_DELETED:
        if target.tags:
            detail["tags"] = list(target.tags)
    elif len(target.tags) == 1:
        detail["tag"] = target.tags[0]
    elif target.tags:
        detail["tag"], detail["tags"] = target.tags[0], list(target.tags)
    if event.kind is EventKind.MANIFEST_PULLED:
        detail["count"] = target.count
    if target.previous:
        detail["moved_from"] = dict(target.previous)
    if event.request_id:
        detail["request_id"] = event.request_id
    detail["event_id"] = event.id
    return detail


def _client(event: Event) -> str:
    """The client's address without its port ("" when no HTTP request caused the event)."""
    addr = event.request.addr if event.request is not None else ""
    return addr.rsplit(":", 1)[0] if addr else ""


def audit_row(event: Event, *, pulls: bool = True) -> AuditEvent | None:
    """The audit row an event makes, or None for the kinds the audit log gets elsewhere."""
    name = _NAMES.get(event.kind)
    if name is None or (event.kind is EventKind.MANIFEST_PULLED and not pulls):
        return None
    return AuditEvent(
        actor=event.actor or "",
        actor_kind=actor_kind(event),
        event=name,
        outcome="success",
        target=f"repository:{event.repository}",
        client=_client(event),
        detail_json=msgspec.json.encode(_detail(event)).decode(),
        created_at=event.time,
    )


class EventAudit(OutboxConsumer):
    def __init__(
        self,
        outbox: OutboxStore,
        audit: AuditStore,
        *,
        pulls: bool = True,
        interval_seconds: float = INTERVAL_SECONDS,
    ) -> None:
        super().__init__(outbox, interval_seconds=interval_seconds)
        self.audit = audit
        self.pulls = pulls
        self.written = 0  # audit rows written from events by this process

    async def position(self) -> OutboxPosition:
        return await self.audit.consumed_position(CONSUMER)

    async def consume(
        self, events: Sequence[StoredEvent], read_from: OutboxPosition, to: OutboxPosition
    ) -> int:
        rows = [r for r in (audit_row(s.event, pulls=self.pulls) for s in events) if r]
        if not await self.audit.append_consumed(rows, CONSUMER, read_from, to):
            return -1
        self.written += len(rows)
        return len(rows)
