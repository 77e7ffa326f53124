"""The audit log as a consumer of the outbox (SQLite and PostgreSQL): registry events become
audit rows once, with the consumer's position moved in the same transaction, however many
consumers read; pulls can be left out; a transaction committing late on PostgreSQL is consumed,
neither skipped nor waited for."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from dockyard.core.events import EventKind, EventOrigin, EventTarget, new_event
from dockyard.persistence.identity_records import AuditQuery
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.consumer_positions_schema import consumer_positions_migration
from dockyard.persistence.sql.outbox import SqlOutbox, record
from dockyard.persistence.sql.session import Database, Session
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.identity.event_audit import EventAudit
from unit.identity.conftest import Run

ALICE = EventOrigin(actor="alice", request_id="req-1")
ROBOT = EventOrigin(actor="robot$team+ci", request_id="req-2")
RETENTION = EventOrigin(actor="retention (scheduled)")
DIGEST = "sha256:" + "d" * 64
BEGIN_WRITING = "SELECT pg_current_xact_id()::text"


def outbox_of(database: Database) -> SqlOutbox:
    return SqlOutbox(database, snapshot_bound=not isinstance(database, SqliteDatabase))


def _store(run: Run[Any], database: Database, *events: Any) -> None:
    async def work(session: Session) -> None:
        for event in events:
            await record(session, event)

    run(database.transaction(work))


def _sample() -> list[Any]:
    return [
        new_event(EventKind.MANIFEST_PUSHED, ALICE, "team/app",
                  EventTarget(DIGEST, tags=("v1",), previous={"v1": "sha256:old"})),
        new_event(EventKind.BLOB_PUSHED, ALICE, "team/app", EventTarget(DIGEST, size=3)),
        new_event(EventKind.MANIFEST_PULLED, ROBOT, "team/app",
                  EventTarget(DIGEST, tags=("v1",), count=12)),
        new_event(EventKind.MANIFEST_PULLED, EventOrigin(), "team/app",
                  EventTarget(DIGEST, count=2)),
        new_event(EventKind.TAG_DELETED, ALICE, "team/app", EventTarget(DIGEST, tags=("v1",))),
        new_event(EventKind.MANIFEST_DELETED, RETENTION, "team/app", EventTarget(DIGEST)),
        new_event(EventKind.PROJECT_CREATED, ALICE, "", EventTarget(project="team")),
    ]  # fmt: skip


def _rows(run: Run[Any], database: Database) -> list[Any]:
    return list(run(SqlAuditStore(database).query(AuditQuery(limit=100, after_id=0))))


def test_registry_events_become_audit_rows_once(run: Run[Any], database: Database) -> None:
    consumer = EventAudit(outbox_of(database), SqlAuditStore(database))
    _store(run, database, *_sample())
    assert run(consumer.catch_up()) == 5
    assert run(consumer.catch_up()) == 0  # nothing new
    rows = _rows(run, database)
    assert [(r.event, r.actor, r.actor_kind, r.outcome) for r in rows] == [
        ("manifest.push", "alice", "user", "success"),
        ("manifest.pull", "robot$team+ci", "robot", "success"),
        ("manifest.pull", "", "anonymous", "success"),
        ("tag.delete", "alice", "user", "success"),
        ("manifest.delete", "retention (scheduled)", "system", "success"),
    ]  # blob.pushed and project.created are not registry audit rows
    push = json.loads(rows[0].detail_json)
    assert push["tag"] == "v1" and push["digest"] == DIGEST and push["request_id"] == "req-1"
    assert push["moved_from"] == {"v1": "sha256:old"}
    assert json.loads(rows[1].detail_json)["count"] == 12
    assert all(r.target == "repository:team/app" for r in rows)
    assert run(SqlAuditStore(database).consumed_position("audit")).sequence == 7


def test_two_consumers_write_each_row_once(run: Run[Any], database: Database) -> None:
    first = EventAudit(outbox_of(database), SqlAuditStore(database))
    second = EventAudit(outbox_of(database), SqlAuditStore(database))
    for _ in range(5):
        _store(run, database, *_sample())

    async def both() -> None:
        await asyncio.gather(first.catch_up(), second.catch_up())

    run(both())
    assert len(_rows(run, database)) == 25
    assert first.written + second.written == 25


def test_pulls_can_be_left_out(run: Run[Any], database: Database) -> None:
    consumer = EventAudit(outbox_of(database), SqlAuditStore(database), pulls=False)
    _store(run, database, *_sample())
    run(consumer.catch_up())
    assert "manifest.pull" not in [r.event for r in _rows(run, database)]


def test_a_transaction_committing_late_is_consumed_not_skipped(
    run: Run[Any], database: Database
) -> None:
    """Two overlapping transactions: Y takes the lower sequence number but commits after X.
    X's event is consumed as soon as X commits, without waiting for Y; Y's, once Y commits,
    is consumed too (the old reader by sequence stopped at Y's gap for 30 s and then skipped
    it for good if Y had not committed by then)."""
    if isinstance(database, SqliteDatabase):
        pytest.skip("SQLite has one writer at a time: transactions cannot overlap")
    consumer = EventAudit(outbox_of(database), SqlAuditStore(database))
    target = EventTarget(DIGEST, tags=("v",))
    late = new_event(EventKind.TAG_DELETED, ALICE, "team/y", target)
    early = new_event(EventKind.MANIFEST_PUSHED, ALICE, "team/x", target)

    async def main() -> tuple[int, int, list[int]]:
        x_began, y_wrote, y_may_commit = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def x(session: Session) -> None:
            await session.fetchone(BEGIN_WRITING)  # X's transaction id is the older one
            x_began.set()
            await y_wrote.wait()
            await record(session, early)  # the higher sequence number

        async def y(session: Session) -> None:
            await x_began.wait()
            await record(session, late)  # the lower sequence number
            y_wrote.set()
            await y_may_commit.wait()

        committing_y = asyncio.create_task(database.transaction(y))
        await database.transaction(x)
        first = await consumer.catch_up()  # X committed, Y still open
        y_may_commit.set()
        await committing_y
        second = await consumer.catch_up()
        order = [s.event.id for s in await SqlOutbox(database).events_after(0, 10)]
        return first, second, [order.index(late.id), order.index(early.id)]

    first, second, sequence_order = run(main())
    assert sequence_order == [0, 1]  # Y's event holds the lower sequence number
    assert (first, second) == (1, 1)
    assert [(r.event, r.target) for r in _rows(run, database)] == [
        ("manifest.push", "repository:team/x"),
        ("tag.delete", "repository:team/y"),
    ]


def _converted(database: Database, position: int) -> Any:
    """Run the data step of the migration that adds ``event_cursors.txid`` on a position
    stored as a bare sequence number (txid 0), as every position was before it."""
    (update,) = [s for s in consumer_positions_migration("sqlite").split(";") if "UPDATE" in s]

    async def work() -> None:
        await database.execute(
            "INSERT INTO event_cursors(consumer, txid, position, updated_at) VALUES (?, 0, ?, 0)",
            ("audit", position),
        )
        await database.execute(update)

    return work()


def test_an_old_position_is_converted_without_skipping_or_repeating(
    run: Run[Any], database: Database
) -> None:
    """Three events in three transactions; the audit log had consumed the first two by
    sequence. After the conversion it consumes the third, once, and nothing before it."""
    target = EventTarget(DIGEST, tags=("v",))
    events = [new_event(EventKind.MANIFEST_PUSHED, ALICE, f"team/r{n}", target) for n in range(3)]
    for event in events:
        _store(run, database, event)  # a transaction each: three transaction ids on PostgreSQL
    run(_converted(database, 2))
    consumer = EventAudit(outbox_of(database), SqlAuditStore(database))
    assert run(consumer.catch_up()) == 1
    assert [r.target for r in _rows(run, database)] == ["repository:team/r2"]
    assert run(consumer.catch_up()) == 0
