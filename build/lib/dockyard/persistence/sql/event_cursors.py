"""How far each outbox consumer has read (table ``event_cursors``, one row per consumer).

A position moves only from where its reader read it (a compare-and-set), so of two nodes
that consumed the same page only one moves it; the audit log moves its position in the
transaction that writes its rows (``sql/audit.py``), other consumers on their own.
"""

from __future__ import annotations

import time

from dockyard.persistence.sql.session import Database

ADVANCE = """
INSERT INTO event_cursors(consumer, position, updated_at) VALUES (?, ?, ?)
ON CONFLICT(consumer) DO UPDATE SET position = excluded.position,
    updated_at = excluded.updated_at
WHERE event_cursors.position = ?
"""
POSITION = "SELECT position FROM event_cursors WHERE consumer = ?"


class SqlEventCursors:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def position(self, consumer: str) -> int:
        """How far ``consumer`` has read the outbox (0: not yet)."""
        row = await self.db.fetchone(POSITION, (consumer,))
        return int(row[0]) if row else 0

    async def advance(self, consumer: str, read_from: int, to: int) -> bool:
        """Move ``consumer`` from ``read_from`` to ``to``; False when another node moved it."""
        changed = await self.db.execute(ADVANCE, (consumer, to, time.time(), read_from))
        return bool(changed)
