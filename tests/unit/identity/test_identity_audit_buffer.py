"""The buffered writer of registry audit events, on real SQLite and PostgreSQL databases:
batches, a bounded queue that drops (and counts) instead of blocking, retries after a failed
write, and the last flush when the writer loop is cancelled at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from dockyard.auth.grants import Grants, Identity
from dockyard.auth.policy import Action
from dockyard.auth.principal import Principal
from dockyard.persistence.identity_records import AuditEvent, AuditQuery
from dockyard.persistence.sql.audit import SqlAuditStore
from dockyard.services.identity.audit_buffer import AuditBuffer, PendingEvent
from dockyard.services.identity.denials import DeniedAccess
from unit.identity.conftest import Run


def event(n: int) -> PendingEvent:
    target = f"repository:r/{n}"
    return PendingEvent("alice", "user", "manifest.pull", "success", target, "", {}, float(n))


def test_batches_are_written_and_the_queue_is_bounded(
    audit_store: SqlAuditStore, run: Run[Any]
) -> None:
    buffer = AuditBuffer(audit_store, capacity=25, batch=10)
    offered = [buffer.offer(event(n)) for n in range(30)]
    assert offered == [True] * 25 + [False] * 5
    assert buffer.dropped == 5 and buffer.pending == 25
    assert run(buffer.flush()) is True
    assert buffer.written == 25 and buffer.pending == 0
    rows = run(audit_store.query(AuditQuery(event="manifest.pull", limit=100)))
    assert sorted(r.target for r in rows) == sorted(f"repository:r/{n}" for n in range(25))


class FailingOnce:
    """A real store whose first write fails, as when the database is briefly away."""

    def __init__(self, store: SqlAuditStore) -> None:
        self.store, self.failed = store, False

    async def append(self, event: AuditEvent) -> None:
        await self.store.append(event)

    async def append_many(self, events: Sequence[AuditEvent]) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("database away")
        await self.store.append_many(events)

    async def query(self, query: AuditQuery) -> list[AuditEvent]:
        return await self.store.query(query)


def test_a_failed_write_is_kept_for_the_next_flush(
    audit_store: SqlAuditStore, run: Run[Any]
) -> None:
    buffer = AuditBuffer(FailingOnce(audit_store), capacity=100, batch=50)
    for n in range(3):
        buffer.offer(event(n))
    assert run(buffer.flush()) is False
    assert buffer.failures == 1 and buffer.pending == 3 and buffer.dropped == 0
    assert run(buffer.flush()) is True
    assert len(run(audit_store.query(AuditQuery(limit=10)))) == 3


def test_cancelling_the_writer_flushes_what_is_left(
    audit_store: SqlAuditStore, run: Run[Any]
) -> None:
    buffer = AuditBuffer(audit_store, interval_seconds=3600)
    alice = Principal("alice", identity=Identity("user", 1, Grants()), client="10.0.0.1")
    DeniedAccess(buffer).denied(alice, Action.DELETE_TAG, "team/app")

    async def start_then_stop() -> None:
        task = asyncio.create_task(buffer.run_forever())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run(start_then_stop())
    [row] = run(audit_store.query(AuditQuery(limit=10)))
    assert (row.actor, row.actor_kind, row.event, row.target, row.outcome) == (
        "alice", "user", "access.denied", "repository:team/app", "failure")  # fmt: skip
    assert row.client == "10.0.0.1" and '"action":"delete_tag"' in row.detail_json
