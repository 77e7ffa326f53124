"""The delivery store: the dispatcher never skips an event committed late (PostgreSQL), two
dispatchers never record a page twice, and only the first pending delivery of a lane is ever
claimed, by one node at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from dockyard.core.delivery import DeliveryState, NewDelivery, OutboxPosition
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.deliveries import SqlDeliveryStore
from support import postgres
from unit.persistence.conftest import postgres_url

Run = Callable[[Awaitable[Any]], Any]
_INSERT = """
INSERT INTO outbox_events(event_id, kind, created_at, repository, request_id, target)
VALUES (%s, 'manifest.pushed', 1, 'repo', '', '{"digest": "sha256:x"}')
"""


def _connect() -> psycopg.Connection[Any]:
    return psycopg.connect(postgres_url().split("?")[0])


def ids(run: Run, store: SqlDeliveryStore) -> list[str]:
    async def read() -> list[str]:
        page = await store.events_after(await store.position(), 100)
        return [stored.event.id for _, stored in page]

    return list(run(read()))


def test_an_event_committed_late_is_never_overtaken(run: Run, pg_database: Database) -> None:
    """Writer A takes its sequence first, writer B commits first: the reader sees neither
    until A has committed, then A before B; with a plain ``sequence > cursor`` read it would
    have moved past A's sequence while A was still open and never seen it."""
    postgres.shared_server()
    store = SqlDeliveryStore(pg_database, snapshot_bound=True)
    with _connect() as first, _connect() as second:
        first.execute(_INSERT, ("a-first",))  # sequence 1, still open
        second.execute(_INSERT, ("b-second",))  # sequence 2
        second.commit()
        visible = run(pg_database.fetchall("SELECT event_id FROM outbox_events"))
        assert [str(r[0]) for r in visible] == ["b-second"], "B is committed and visible"
        assert ids(run, store) == [], "nothing is read while an older writer is open"
        first.commit()
    assert ids(run, store) == ["a-first", "b-second"]


def test_a_page_is_dispatched_once_however_many_nodes_try(run: Run, database: Database) -> None:
    store = SqlDeliveryStore(database, snapshot_bound=False)

    async def main() -> tuple[bool, bool, OutboxPosition]:
        start = await store.position()
        moved = OutboxPosition(start.txid, start.sequence + 1)
        wanted = [NewDelivery("notifications:a", 1, "event-1", "repo", "manifest.pushed")]
        first = await store.record_dispatch(start, moved, wanted, 1.0)
        second = await store.record_dispatch(start, moved, wanted, 1.0)
        return first, second, await store.position()

    first, second, position = run(main())
    assert (first, second) == (True, False)
    assert position.sequence == 1
    assert len(run(store.history())) == 1


def test_only_the_first_pending_delivery_of_a_lane_is_claimed(run: Run, database: Database) -> None:
    store = SqlDeliveryStore(database, snapshot_bound=False)
    wanted = [
        NewDelivery("s", n, f"event-{n}", repo, "manifest.pushed")
        for n, repo in ((1, "a"), (2, "a"), (3, "b"))
    ]

    async def main() -> list[list[int]]:
        for n, repo in ((1, "a"), (2, "a"), (3, "b")):
            await database.execute(
                "INSERT INTO outbox_events(event_id, kind, created_at, repository, target) "
                "VALUES (?, 'manifest.pushed', 1, ?, ?)",
                (f"event-{n}", repo, '{"digest": "d"}'),
            )
        start = await store.position()
        assert await store.record_dispatch(start, OutboxPosition(0, 3), wanted, 1.0)
        rounds = []
        one = await store.claim("node-1", now=2.0, lease_until=100.0, limit=10)
        rounds.append([c.id for c in one])
        other = await store.claim("node-2", now=2.0, lease_until=100.0, limit=10)
        rounds.append([c.id for c in other])
        first = one[0]
        await store.finish(
            first.id, "node-1", DeliveryState.DELIVERED,
            status=200, error="", next_attempt_at=0, now=3.0,
        )  # fmt: skip
        rounds.append([c.id for c in await store.claim("node-2", now=4, lease_until=100, limit=10)])
        return rounds

    one, other, after = run(main())
    assert one == [1, 3], "the head of lane a and of lane b"
    assert other == [], "both heads are leased; the second of lane a waits"
    assert after == [2]
