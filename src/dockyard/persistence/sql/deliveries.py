"""The delivery engine's tables: the dispatcher's cursor over the outbox and the deliveries.

Reading the outbox: events come in order of (txid, sequence) after the cursor. On PostgreSQL
only events whose writing transaction is older than every transaction still running
(``pg_snapshot_xmin``) are read, so an event committed late with a lower sequence is never
skipped: its transaction id keeps it ahead of the cursor until it has committed (or rolled
back). On SQLite ``txid`` is 0 and one writer at a time means sequence order is commit order.

Dispatching is compare-and-set: the cursor moves only from the position the dispatcher read,
in the transaction that records the deliveries, so two nodes never record the same page twice.
Sending is claimed with a lease (one conditional UPDATE for every head found, taking each row
only if nobody holds it, ``RETURNING`` the ones taken), and only the oldest
pending delivery of each (subscription, repository) lane is ever claimable, so a lane has at
most one delivery in flight, on one node, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.core.delivery import (
    ClaimedDelivery,
    DeliveryRecord,
    DeliveryState,
    NewDelivery,
    OutboxPosition,
)
from dockyard.core.events import StoredEvent
from dockyard.persistence.sql.outbox import COLUMNS, positional_read, stored_event
from dockyard.persistence.sql.session import Database, Row, Session, chunks, placeholders

CURSOR = "dispatch"
_MOVE_CURSOR = """
UPDATE delivery_cursors SET txid = ?, sequence = ?, updated_at = ?
WHERE name = ? AND txid = ? AND sequence = ?
"""
_INSERT = """
INSERT INTO event_deliveries(
    subscription, sequence, event_id, repository, kind, next_attempt_at, created_at
) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription, event_id) DO NOTHING
"""
_HEADS = """
SELECT d.id FROM event_deliveries d JOIN (
    SELECT min(id) AS id FROM event_deliveries WHERE state = 'pending'
    GROUP BY subscription, repository
) lane ON lane.id = d.id
WHERE d.next_attempt_at <= ? AND d.lease_until < ?
ORDER BY d.next_attempt_at, d.id LIMIT ?
"""
_CLAIM = """
UPDATE event_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
WHERE id IN ({ids}) AND state = 'pending' AND lease_until < ? RETURNING id
"""
_FINISH = """
UPDATE event_deliveries SET state = ?, next_attempt_at = ?, last_status = ?, last_error = ?,
    finished_at = ?, lease_owner = '', lease_until = 0
WHERE id = ? AND lease_owner = ?
"""
_RECORD_COLUMNS = (
    "id, subscription, event_id, sequence, repository, kind, state, attempts, "
    "next_attempt_at, last_status, last_error, created_at, finished_at"
)
_REPLAY = """
UPDATE event_deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?,
    finished_at = NULL, lease_owner = '', lease_until = 0
WHERE state = 'dead'
"""
_PRUNE_DELIVERIES = """
DELETE FROM event_deliveries WHERE id IN (
    SELECT id FROM event_deliveries WHERE state <> 'pending' AND finished_at < ? LIMIT ?)
"""
_PRUNE_EVENTS = """
DELETE FROM outbox_events WHERE sequence IN (
    SELECT o.sequence FROM outbox_events o, delivery_cursors c
    WHERE c.name = 'dispatch' AND o.created_at < ? AND (o.txid, o.sequence) <= (c.txid, c.sequence)
      AND NOT EXISTS (
        SELECT 1 FROM event_deliveries d WHERE d.sequence = o.sequence AND d.state = 'pending')
    LIMIT ?)
"""
PRUNE_BATCH = 1000


class SqlDeliveryStore:
    """``snapshot_bound``: PostgreSQL (read only events of transactions that have ended)."""

    def __init__(self, database: Database, *, snapshot_bound: bool) -> None:
        self.db = database
        self._read = positional_read(snapshot_bound)

    # dispatching --------------------------------------------------------------------------

    async def position(self) -> OutboxPosition:
        """Where the dispatcher is; a missing cursor (a table emptied by hand) starts over."""
        row = await self.db.fetchone(
            "SELECT txid, sequence FROM delivery_cursors WHERE name = ?", (CURSOR,)
        )
        if row is None:
            await self.db.execute(
                "INSERT INTO delivery_cursors(name, txid, sequence, updated_at) VALUES (?, 0, 0, 0)"
                " ON CONFLICT (name) DO NOTHING",
                (CURSOR,),
            )
            return OutboxPosition()
        return OutboxPosition(int(row[0]), int(row[1]))

    async def events_after(
        self, position: OutboxPosition, limit: int
    ) -> list[tuple[OutboxPosition, StoredEvent]]:
        """Committed events past ``position`` in dispatch order, each with its position."""
        rows = await self.db.fetchall(self._read, (position.txid, position.sequence, limit))
        return [(OutboxPosition(int(r[0]), int(r[1])), stored_event(r[1:])) for r in rows]

    async def record_dispatch(
        self,
        read_from: OutboxPosition,
        moved_to: OutboxPosition,
        deliveries: Sequence[NewDelivery],
        now: float,
    ) -> bool:
        """Move the cursor from ``read_from`` to ``moved_to`` and record ``deliveries``, in
        one transaction; False (nothing recorded) when another node moved it first."""

        async def work(session: Session) -> bool:
            moved = await session.execute(
                _MOVE_CURSOR,
                (moved_to.txid, moved_to.sequence, now, CURSOR, read_from.txid, read_from.sequence),
            )
            if not moved:
                return False
            rows = [
                (d.subscription, d.sequence, d.event_id, d.repository, d.kind, now, now)
                for d in deliveries
            ]
            if rows:
                await session.executemany(_INSERT, rows)
            return True

        return await self.db.transaction(work)

    # sending ------------------------------------------------------------------------------

    async def claim(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries, each the oldest pending one of its lane."""
        heads = [str(row[0]) for row in await self.db.fetchall(_HEADS, (now, now, limit))]
        claimed: list[int] = []
        for part in chunks(heads):  # one conditional UPDATE for the lot: taken if still free
            sql = _CLAIM.format(ids=placeholders(len(part)))
            rows = await self.db.fetchall(sql, [owner, lease_until, *map(int, part), now])
            claimed += [int(row[0]) for row in rows]
        return await self._with_events(sorted(claimed))

    async def _with_events(self, ids: list[int]) -> list[ClaimedDelivery]:
        found: list[ClaimedDelivery] = []
        for part in chunks([str(i) for i in ids]):
            sql = f"""
            SELECT d.id, d.subscription, d.attempts, {_prefixed(COLUMNS)}
            FROM event_deliveries d JOIN outbox_events o ON o.sequence = d.sequence
            WHERE d.id IN ({placeholders(len(part))}) ORDER BY d.id
            """  # noqa: S608 - placeholders only
            rows = await self.db.fetchall(sql, [int(i) for i in part])
            found += [_claimed(row) for row in rows]
        return found

    async def finish(
        self,
        delivery_id: int,
        owner: str,
        state: DeliveryState,
        *,
        status: int,
        error: str,
        next_attempt_at: float,
        now: float,
    ) -> bool:
        """Record an attempt's outcome; False when ``owner`` no longer holds the lease."""
        finished = None if state is DeliveryState.PENDING else now
        params = (state.value, next_attempt_at, status, error[:500], finished, delivery_id, owner)
        return await self.db.execute(_FINISH, params) > 0

    # history, replay, pruning --------------------------------------------------------------

    async def history(
        self,
        *,
        subscription: str | None = None,
        state: DeliveryState | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[DeliveryRecord]:
        """Deliveries, newest first, optionally of one subscription and/or in one state."""
        where, params = _filters(subscription, state, before)
        sql = f"SELECT {_RECORD_COLUMNS} FROM event_deliveries {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
        rows = await self.db.fetchall(sql, [*params, limit])
        return [_record(row) for row in rows]

    async def replay(
        self, *, now: float, delivery_id: int | None = None, subscription: str | None = None
    ) -> int:
        """Dead deliveries back to pending (one, one subscription's, or all); how many."""
        sql, params = _REPLAY, list[object]([now])
        if delivery_id is not None:
            sql, params = sql + " AND id = ?", [*params, delivery_id]
        if subscription is not None:
            sql, params = sql + " AND subscription = ?", [*params, subscription]
        return await self.db.execute(sql, params)

    async def prune(self, before: float) -> tuple[int, int]:
        """Delete finished deliveries and fully handled events older than ``before``."""
        deliveries = await _drain(self.db, _PRUNE_DELIVERIES, before)
        events = await _drain(self.db, _PRUNE_EVENTS, before)
        return events, deliveries

    async def queue(self) -> tuple[int, float | None, int]:
        """Pending deliveries, when the oldest of them was created, and dead letters."""
        row = await self.db.fetchone(
            "SELECT count(*), min(created_at) FROM event_deliveries WHERE state = 'pending'"
        )
        dead = await self.db.fetchone("SELECT count(*) FROM event_deliveries WHERE state = 'dead'")
        depth, oldest = (int(row[0]), row[1]) if row else (0, None)
        return depth, (None if oldest is None else float(oldest)), int(dead[0]) if dead else 0


async def _drain(db: Database, sql: str, before: float) -> int:
    total = 0
    while True:
        removed = await db.execute(sql, (before, PRUNE_BATCH))
        total += removed
        if removed < PRUNE_BATCH:
            return total


def _prefixed(columns: str) -> str:
    return ", ".join(f"o.{name.strip()}" for name in columns.split(","))


def _claimed(row: Row) -> ClaimedDelivery:
    stored = stored_event(row[3:])
    return ClaimedDelivery(int(row[0]), str(row[1]), int(row[2]), stored.event)


def _filters(
    subscription: str | None, state: DeliveryState | None, before: int | None
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (
        ("subscription = ?", subscription),
        ("state = ?", None if state is None else state.value),
        ("id < ?", before),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _record(row: Row) -> DeliveryRecord:
    return DeliveryRecord(
        id=int(row[0]),
        subscription=str(row[1]),
        event_id=str(row[2]),
        sequence=int(row[3]),
        repository=str(row[4]),
        kind=str(row[5]),
        state=DeliveryState(row[6]),
        attempts=int(row[7]),
        next_attempt_at=float(row[8]),
        last_status=int(row[9]),
        last_error=str(row[10]),
        created_at=float(row[11]),
        finished_at=None if row[12] is None else float(row[12]),
    )
