"""The audit log: append-only rows of who did what, when, from where, and the outcome.

Rows made from domain events (``services/identity/event_audit.py``) are written in one
transaction with the consumer's position in the outbox (``event_cursors``), so each event
becomes its rows exactly once, whichever node writes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.core.delivery import OutboxPosition
from dockyard.persistence.identity_records import AuditEvent, AuditQuery
from dockyard.persistence.sql.event_cursors import ADVANCE, POSITION, advance_params, position_of
from dockyard.persistence.sql.session import Database, Row, Session

_COLUMNS = "id, created_at, actor, actor_kind, event, target, client, outcome, detail"
_INSERT = (
    "INSERT INTO audit_log(created_at, actor, actor_kind, event, target, client, outcome, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _values(event: AuditEvent) -> tuple[object, ...]:
    return (event.created_at, event.actor, event.actor_kind, event.event, event.target,
            event.client, event.outcome, event.detail_json)  # fmt: skip


def _event(row: Row) -> AuditEvent:
    return AuditEvent(
        actor=row[2], actor_kind=row[3], event=row[4], target=row[5], client=row[6],
        outcome=row[7], detail_json=row[8], created_at=float(row[1]), id=int(row[0]),
    )  # fmt: skip


def _filters(query: AuditQuery) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    exact = {"actor": query.actor, "target": query.target, "outcome": query.outcome}
    for column, text in exact.items():
        if text:
            where.append(f"{column} = ?")
            params.append(text)
    if query.event.endswith("."):
        where.append("event >= ? AND event < ?")  # a prefix, as a range on the index
        params += [query.event, query.event[:-1] + "/"]  # "/" is the byte after "."
    elif query.event:
        where.append("event = ?")
        params.append(query.event)
    bounds = (("created_at >= ?", query.since), ("created_at < ?", query.until),
              ("id < ?", query.before_id), ("id > ?", query.after_id))  # fmt: skip
    for clause, value in bounds:
        if value is not None:
            where.append(clause)
            params.append(value)
    return where, params


class _OvertakenError(Exception):
    """Another writer moved the consumer's position first."""


class SqlAuditStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    async def consumed_position(self, consumer: str) -> OutboxPosition:
        """How far ``consumer`` has read the outbox (the start: not yet)."""
        return position_of(await self.db.fetchone(POSITION, (consumer,)))

    async def append_consumed(
        self,
        events: Sequence[AuditEvent],
        consumer: str,
        read_from: OutboxPosition,
        position: OutboxPosition,
    ) -> bool:
        """Write ``events`` and move ``consumer`` from ``read_from`` to ``position``, in one
        transaction; False (nothing written) when another writer moved it first."""
        rows = [_values(event) for event in events]

        async def work(session: Session) -> None:
            if rows:
                await session.executemany(_INSERT, rows)
            params = advance_params(consumer, read_from, position)
            if not await session.execute(ADVANCE, params):  # lost the race: roll the rows back
                raise _OvertakenError

        try:
            await self.db.transaction(work)
        except _OvertakenError:
            return False
        return True

    async def append(self, event: AuditEvent) -> None:
        await self.db.execute(_INSERT, _values(event))

    async def append_many(self, events: Sequence[AuditEvent]) -> None:
        """Several events in one transaction (the buffered registry events)."""
        rows = [_values(event) for event in events]

        async def work(session: Session) -> None:
            await session.executemany(_INSERT, rows)

        await self.db.transaction(work)

    async def prune(self, before: float, limit: int) -> int:
        """Delete up to ``limit`` of the oldest events recorded before ``before``; how many."""
        return await self.db.execute(
            "DELETE FROM audit_log WHERE id IN "
            "(SELECT id FROM audit_log WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            (before, limit),
        )

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        """Matching events, newest first (oldest first when ``after_id`` is set)."""
        where, params = _filters(query)
        sql = f"SELECT {_COLUMNS} FROM audit_log"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = "ASC" if query.after_id is not None else "DESC"
        rows = await self.db.fetchall(f"{sql} ORDER BY id {order} LIMIT ?", (*params, query.limit))
        return [_event(r) for r in rows]
