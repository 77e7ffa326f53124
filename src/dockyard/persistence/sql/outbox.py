"""The outbox on either backend: events written inside the transaction of their change, and
read back in order of their sequence number (``core.events.EventLog``).

``record`` takes the session of the transaction that makes the change, so the event commits or
rolls back with it. The write methods that call it (``sql/metadata.py``, ``sql/inventory.py``)
take an ``EventOrigin`` and record nothing when it is None (an import, a test).
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.core.delivery import OutboxPosition
from dockyard.core.events import (
    Event,
    EventKind,
    EventOrigin,
    EventTarget,
    StoredEvent,
    decode_request,
    decode_target,
    encode_request,
    encode_target,
    new_event,
)
from dockyard.persistence.sql.session import Database, Row, Session

MAX_PAGE = 1000

_INSERT = """
INSERT INTO outbox_events(
    event_id, kind, created_at, repository, actor, request_id, target, request
) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
COLUMNS = "sequence, event_id, kind, created_at, repository, actor, request_id, target, request"
_AFTER = f"""
SELECT {COLUMNS} FROM outbox_events WHERE sequence > ? ORDER BY sequence LIMIT ?
"""  # noqa: S608 - constant column list
_AFTER_POSITION = f"""
SELECT txid, {COLUMNS} FROM outbox_events WHERE (txid, sequence) > (?, ?) {{bound}}
ORDER BY txid, sequence LIMIT ?
"""  # noqa: S608 - constant column list
# PostgreSQL: only events of transactions older than every one still running (so ended)
SNAPSHOT_BOUND = "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def _values(event: Event) -> tuple[object, ...]:
    return (
        event.id,
        event.kind.value,
        event.time,
        event.repository,
        event.actor,
        event.request_id,
        encode_target(event.target).decode(),
        encode_request(event.request),
    )


async def record(session: Session, event: Event) -> None:
    """Store ``event`` in the transaction ``session`` belongs to (one INSERT)."""
    await session.execute(_INSERT, _values(event))


async def record_many(session: Session, events: Sequence[Event]) -> None:
    """Store ``events`` in the transaction ``session`` belongs to, in their order."""
    if events:
        await session.executemany(_INSERT, [_values(event) for event in events])


async def emit(
    session: Session,
    origin: EventOrigin | None,
    kind: EventKind,
    repository: str,
    target: EventTarget,
) -> None:
    """Record a new event of ``kind`` unless there is no ``origin`` to attribute it to."""
    if origin is not None:
        await record(session, new_event(kind, origin, repository, target))


def stored_event(row: Row) -> StoredEvent:
    """A row of :data:`COLUMNS` as the event it holds."""
    event = Event(
        id=str(row[1]),
        kind=EventKind(row[2]),
        time=float(row[3]),
        repository=str(row[4]),
        actor=None if row[5] is None else str(row[5]),
        request_id=str(row[6]),
        target=decode_target(row[7]),
        request=decode_request(row[8]),
    )
    return StoredEvent(int(row[0]), event)


def positional_read(snapshot_bound: bool) -> str:
    """The query of :meth:`SqlOutbox.events_at` (``snapshot_bound``: PostgreSQL)."""
    return _AFTER_POSITION.format(bound=SNAPSHOT_BOUND if snapshot_bound else "")


class SqlOutbox:
    """The read side: ``events_after(n)`` pages through events with sequence > n, in order
    (for operators: a late commit can appear behind what was read); ``events_at(position)``
    pages in (txid, sequence) order, which no late commit can overtake (for consumers).

    ``snapshot_bound`` (PostgreSQL): ``events_at`` returns only events whose writing
    transaction is older than every transaction still running, so an event that commits
    late always comes after the position of the events read before it. On SQLite ``txid``
    is 0 and one writer at a time makes sequence order commit order.
    """

    def __init__(self, database: Database, *, snapshot_bound: bool = False) -> None:
        self.db = database
        self._read_at = positional_read(snapshot_bound)

    async def events_after(self, after: int, limit: int) -> list[StoredEvent]:
        limit = max(1, min(limit, MAX_PAGE))
        rows = await self.db.fetchall(_AFTER, (after, limit))
        return [stored_event(row) for row in rows]

    async def events_at(
        self, position: OutboxPosition, limit: int
    ) -> list[tuple[OutboxPosition, StoredEvent]]:
        """Committed events past ``position`` in (txid, sequence) order, each with its own."""
        limit = max(1, min(limit, MAX_PAGE))
        rows = await self.db.fetchall(self._read_at, (position.txid, position.sequence, limit))
        return [(OutboxPosition(int(r[0]), int(r[1])), stored_event(r[1:])) for r in rows]

    async def last_sequence(self) -> int:
        row = await self.db.fetchone("SELECT coalesce(max(sequence), 0) FROM outbox_events")
        return int(row[0]) if row else 0
