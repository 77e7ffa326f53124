"""Domain events: who a change is attributed to, reading the outbox back, and delivering it.

Services hand an ``EventOrigin`` to the store write that makes a change; the store records the
event in the same transaction (``persistence/sql/outbox.py``). Operators read it through
``EventReader``. ``engine.py`` delivers events to subscriptions (``core/delivery.py``):
registry:2 notifications endpoints (``notifications.py``) and, at merge, project webhooks;
``deliveries.py`` is the read and replay side of its history. See docs/events.md.
"""

from __future__ import annotations

from dockyard.auth.principal import Principal
from dockyard.core.events import (
    DetailValue,
    Event,
    EventKind,
    EventOrigin,
    EventRequest,
    EventTarget,
    StoredEvent,
    new_event,
)
from dockyard.persistence.stores import OutboxStore

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def origin_of(
    principal: Principal, request_id: str = "", request: EventRequest | None = None
) -> EventOrigin:
    """The actor is the principal's name; an anonymous caller has none."""
    actor = principal.name if principal.authenticated and principal.name else None
    return EventOrigin(actor=actor, request_id=request_id, request=request)


def change_event(
    actor: Principal,
    kind: EventKind,
    /,
    *,
    project: str = "",
    name: str = "",
    **detail: DetailValue | None,
) -> Event:
    """The event of a project- or system-level change (identity, settings), made before the
    change and handed to the store write, which stores it only if the change happens. It has
    no repository; ``detail`` values that are None are left out."""
    kept = {key: value for key, value in detail.items() if value is not None}
    target = EventTarget(project=project, name=name, detail=kept)
    return new_event(kind, origin_of(actor), "", target)


class EventReader:
    """Pages through the outbox in order of sequence number (operators: ``dockyard events``)."""

    def __init__(self, outbox: OutboxStore) -> None:
        self.outbox = outbox

    async def after(self, position: int, limit: int = DEFAULT_PAGE) -> list[StoredEvent]:
        """Events with a sequence number above ``position``, oldest first, at most ``limit``
        (clamped to 1..1000)."""
        return await self.outbox.events_after(max(0, position), max(1, min(limit, MAX_PAGE)))

    async def last_position(self) -> int:
        return await self.outbox.last_sequence()
