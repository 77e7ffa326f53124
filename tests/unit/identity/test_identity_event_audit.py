"""The audit log as a consumer of the outbox (SQLite and PostgreSQL): registry events become
audit rows once, with the consumer's position moved in the same transaction, however many
consumers read; pulls can be left out; a gap in the sequence is waited for, then passed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from dockyard.core.events import EventKind, EventOrigin, EventTarget, StoredEvent, new_event
from dockyard.persistence.identity_records import AuditQuery
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.persistence.sql.outbox import SqlOutbox, record
from dockyard.persistence.sql.session import Database, Session
from dockyard.services.identity.event_audit import EventAudit
from unit.identity.conftest import Run

ALICE = EventOrigin(actor="alice", request_id="req-1")
ROBOT = EventOrigin(actor="robot$team+ci", request_id="req-2")
RETENTION = EventOrigin(actor="retention (scheduled)")
DIGEST = "sha256:" + "d" * 64


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
    consumer = EventAudit(SqlOutbox(database), SqlAuditStore(database))
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
    assert run(SqlAuditStore(database).consumed_position("audit")) == 7


def test_two_consumers_write_each_row_once(run: Run[Any], database: Database) -> None:
    first = EventAudit(SqlOutbox(database), SqlAuditStore(database))
    second = EventAudit(SqlOutbox(database), SqlAuditStore(database))
    for _ in range(5):
        _store(run, database, *_sample())

    async def both() -> None:
        await asyncio.gather(first.catch_up(), second.catch_up())

    run(both())
    assert len(_rows(run, database)) == 25
    assert first.written + second.written == 25


def test_pulls_can_be_left_out(run: Run[Any], database: Database) -> None:
    consumer = EventAudit(SqlOutbox(database), SqlAuditStore(database), pulls=False)
    _store(run, database, *_sample())
    run(consumer.catch_up())
    assert "manifest.pull" not in [r.event for r in _rows(run, database)]


class GappyOutbox:
    """Sequences 1, 2, 4: 3 is a transaction that has not committed (or never will)."""

    def __init__(self) -> None:
        target = EventTarget(DIGEST, tags=("v",))
        self.events = [
            StoredEvent(n, new_event(EventKind.MANIFEST_PUSHED, ALICE, "r", target))
            for n in (1, 2, 4)
        ]

    async def events_after(self, after: int, limit: int) -> list[StoredEvent]:
        return [e for e in self.events if e.sequence > after][:limit]

    async def last_sequence(self) -> int:
        return self.events[-1].sequence


def test_a_gap_is_waited_for_then_passed(run: Run[Any], database: Database) -> None:
    now = [0.0]
    outbox = GappyOutbox()
    consumer = EventAudit(outbox, SqlAuditStore(database), gap_seconds=30, clock=lambda: now[0])
    assert run(consumer.catch_up()) == 2  # 1 and 2; stops before the gap
    now[0] = 29
    assert run(consumer.catch_up()) == 0
    late = new_event(EventKind.TAG_DELETED, ALICE, "r", EventTarget(DIGEST, tags=("v",)))
    outbox.events.insert(2, StoredEvent(3, late))  # it committed after all
    assert run(consumer.catch_up()) == 2
    assert [r.event for r in _rows(run, database)][-2:] == ["tag.delete", "manifest.push"]
    outbox.events.append(StoredEvent(9, outbox.events[0].event))
    assert run(consumer.catch_up()) == 0  # 5..8 missing, first seen at 29
    now[0] = 58
    assert run(consumer.catch_up()) == 0
    now[0] = 59
    assert run(consumer.catch_up()) == 1  # never came: passed after 30 s
