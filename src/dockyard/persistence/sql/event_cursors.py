"""How far each outbox consumer has read (table ``event_cursors``, one row per consumer).

A position is (txid, sequence), the order in which ``SqlOutbox.events_at`` reads (see
``sql/outbox.py``). It moves only from where its reader read it (a compare-and-set), so of two
nodes that consumed the same page only one moves it; the audit log moves its position in the
transaction that writes its rows (``sql/audit.py``), other consumers on their own.
"""

from __future__ import annotations

import time

from dockyard.core.delivery import OutboxPosition
from dockyard.persistence.sql.session import Database, Row

ADVANCE = """
INSERT INTO event_cursors(consumer, txid, position, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT(consumer) DO UPDATE SET txid = excluded.txid, position = excluded.position,
    updated_at = excluded.updated_at
WHERE event_cursors.txid = ? AND event_cursors.position = ?
"""
POSITION = "SELECT txid, position FROM event_cursors WHERE consumer = ?"


def advance_params(
    consumer: str, read_from: OutboxPosition, to: OutboxPosition
) -> tuple[object, ...]:
    """The parameters of :data:`ADVANCE`."""
    return (consumer, to.txid, to.sequence, time.time(), read_from.txid, read_from.sequence)


def position_of(row: Row | None) -> OutboxPosition:
    """A :data:`POSITION` row as a position; no row: the start."""
    return OutboxPosition(int(row[0]), int(row[1])) if row else OutboxPosition()


class SqlEventCursors:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def position(self, consumer: str) -> OutboxPosition:
        """How far ``consumer`` has read the outbox (txid 0, sequence 0: not yet)."""
        return position_of(await self.db.fetchone(POSITION, (consumer,)))

    async def advance(self, consumer: str, read_from: OutboxPosition, to: OutboxPosition) -> bool:
        """Move ``consumer`` from ``read_from`` to ``to``; False when another node moved it."""
        changed = await self.db.execute(ADVANCE, advance_params(consumer, read_from, to))
        return bool(changed)
