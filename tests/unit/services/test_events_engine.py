"""The delivery engine against a real receiver on loopback and a real database (SQLite, and
the session's PostgreSQL): order per repository, retries with the same event id, dead letters
and replay, the outbound guard, redirects, two nodes at once, pruning."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.core.delivery import DeliveryState, RetryPolicy
from dockyard.core.events import Event, EventKind, EventOrigin, EventTarget, new_event
from dockyard.persistence.sql import Database
from dockyard.persistence.sql.deliveries import SqlDeliveryStore
from dockyard.persistence.sql.outbox import record
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.events.deliveries import DeliveryHistory
from dockyard.services.events.engine import DeliveryEngine, EngineOptions
from dockyard.services.events.envelope import EnvelopeContext
from dockyard.services.events.notifications import (
    ConfiguredEndpoints,
    Endpoint,
    NotificationEndpoint,
)
from dockyard.services.outbound.guard import OutboundPolicy
from support import postgres
from support.receiver import Receiver

Run = Callable[[Awaitable[Any]], Any]
ORIGIN = EventOrigin(actor="alice", request_id="req")
OCI = "application/vnd.oci.image.manifest.v1+json"
FAST = RetryPolicy(timeout_seconds=5.0, backoff_seconds=0.01, max_backoff_seconds=0.05)
CONTEXT = EnvelopeContext(source_addr="node:5000", instance_id="instance")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path, run: Run) -> Iterator[Database]:
    if request.param == "sqlite":
        db: Database = SqliteDatabase(str(tmp_path / "metadata.db"))
    else:
        from dockyard.persistence.postgres.database import PostgresDatabase

        db = PostgresDatabase(postgres.suite_database_url("engine"))
        run(db.open())
        run(db.execute("TRUNCATE outbox_events, event_deliveries RESTART IDENTITY"))
        run(db.execute("UPDATE delivery_cursors SET txid = 0, sequence = 0"))
    yield db
    run(db.aclose())


def store_of(database: Database) -> SqlDeliveryStore:
    return SqlDeliveryStore(database, snapshot_bound=not isinstance(database, SqliteDatabase))


def engine_for(
    database: Database,
    *endpoints: Endpoint,
    concurrency: int = 8,
    transport: httpx.AsyncBaseTransport | None = None,
    retention: float = 7 * 86400.0,
) -> DeliveryEngine:
    source = ConfiguredEndpoints([NotificationEndpoint(e, CONTEXT) for e in endpoints])
    return DeliveryEngine(
        store_of(database),
        [source],
        OutboundPolicy(),
        options=EngineOptions(concurrency=concurrency, retention_seconds=retention),
        transport=transport,
    )


def endpoint(url: str, name: str = "hook", policy: RetryPolicy = FAST) -> Endpoint:
    return Endpoint(name=name, url=url, headers=(("Authorization", "Bearer t"),), policy=policy)


def pushed(repository: str, number: int) -> Event:
    digest = f"sha256:{number:064x}"
    target = EventTarget(digest, OCI, 100 + number, tags=(f"v{number}",))
    return new_event(EventKind.MANIFEST_PUSHED, ORIGIN, repository, target)


async def emit(database: Database, events: list[Event], batch: int = 500) -> None:
    for start in range(0, len(events), batch):
        part = events[start : start + batch]

        async def work(session: Any, part: list[Event] = part) -> None:
            for event in part:
                await record(session, event)

        await database.transaction(work)


async def drain(engine: DeliveryEngine, done: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the engine did not finish in time"
        if not await engine.run_once():
            await asyncio.sleep(0.01)


def by_repository(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for event in events:
        found.setdefault(event["target"]["repository"], []).append(event["id"])
    return found


def lanes(events: list[Event]) -> dict[str, list[str]]:
    return by_repository([{"id": e.id, "target": {"repository": e.repository}} for e in events])


def test_every_event_arrives_once_in_order_per_repository_despite_failures(
    database: Database, run: Run
) -> None:
    receiver = Receiver(status=202, fail_every=3, fail_status=500).start()
    try:
        events = [pushed(f"team/app{i % 3}", i) for i in range(60)]
        engine = engine_for(database, endpoint(receiver.url))

        async def main() -> None:
            await engine.run_once()  # the cursor is in place before the events
            await emit(database, events)
            await drain(engine, lambda: receiver.accepted() >= len(events))
            await engine.aclose()

        run(main())
        got = receiver.events()
        assert 500 in receiver.answered, "the receiver failed some requests"
        assert sorted(e["id"] for e in got) == sorted(e.id for e in events)
        expected = by_repository(
            [{"id": e.id, "target": {"repository": e.repository}} for e in events]
        )
        assert by_repository(got) == expected
        first = receiver.received[0]
        assert first.headers["Content-Type"] == "application/vnd.docker.distribution.events.v1+json"
        assert first.headers["Authorization"] == "Bearer t"
    finally:
        receiver.close()


@pytest.mark.slow
def test_ten_thousand_events_with_every_third_request_failing_lose_nothing(
    tmp_path: Path, run: Run
) -> None:
    database = SqliteDatabase(str(tmp_path / "metadata.db"))
    receiver = Receiver(fail_every=3, fail_status=503).start()
    try:
        events = [pushed(f"repo{i % 100}", i) for i in range(10_000)]
        engine = engine_for(database, endpoint(receiver.url), concurrency=64)

        async def main() -> None:
            await engine.run_once()
            await emit(database, events)
            await drain(engine, lambda: receiver.accepted() >= len(events), seconds=900)
            await engine.aclose()

        run(main())
        got = receiver.events()
        assert len(got) == 10_000 and {e["id"] for e in got} == {e.id for e in events}
        expected = by_repository(
            [{"id": e.id, "target": {"repository": e.repository}} for e in events]
        )
        assert by_repository(got) == expected
        assert receiver.answered.count(503) >= 4000
    finally:
        receiver.close()
        database.close()


def test_a_dead_letter_after_the_last_attempt_is_sent_again_on_replay(
    database: Database, run: Run
) -> None:
    receiver = Receiver(status=500).start()
    policy = RetryPolicy(timeout_seconds=5, backoff_seconds=0.01, max_attempts=3)
    try:
        first, second = pushed("repo", 1), pushed("repo", 2)
        engine = engine_for(database, endpoint(receiver.url, policy=policy))
        history = DeliveryHistory(store_of(database))

        async def dead_letters() -> list[Any]:
            return await history.dead_letters()

        async def main() -> None:
            await engine.run_once()
            await emit(database, [first])
            await drain(engine, lambda: len(receiver.answered) >= 3)
            for _ in range(5):  # nothing more is tried once it is dead
                await engine.run_once()
                await asyncio.sleep(0.02)

        run(main())
        assert receiver.answered == [500, 500, 500]
        (dead,) = run(dead_letters())
        assert (dead.event_id, dead.attempts, dead.last_status) == (first.id, 3, 500)
        assert dead.state is DeliveryState.DEAD and dead.subscription == "notifications:hook"
        receiver.stop()
        receiver.start(status=200)

        async def replay() -> None:
            await emit(database, [second])  # a later event in the same lane waits behind it
            assert await history.replay(dead.id)
            await drain(engine, lambda: len(receiver.events()) >= 2)
            await engine.aclose()

        run(replay())
        assert [e["id"] for e in receiver.events()] == [first.id, second.id]
        assert run(dead_letters()) == []
        records = run(history.history(subscription="notifications:hook"))
        assert {r.state for r in records} == {DeliveryState.DELIVERED}
    finally:
        receiver.close()


def test_a_metadata_address_is_refused_without_any_connection(database: Database, run: Run) -> None:
    attempts: list[httpx.Request] = []

    def connect(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(200)

    engine = engine_for(
        database,
        endpoint("http://169.254.169.254/latest/meta-data"),
        transport=httpx.MockTransport(connect),
    )

    async def main() -> None:
        await engine.run_once()
        await emit(database, [pushed("repo", 1)])
        await engine.run_once()
        await engine.run_once()
        await engine.aclose()

    run(main())
    assert attempts == []
    (delivery,) = run(DeliveryHistory(store_of(database)).history())
    assert delivery.state is DeliveryState.PENDING and delivery.last_status == 0
    assert "refused" in delivery.last_error and "metadata" in delivery.last_error


def test_a_redirect_is_not_followed_and_counts_as_a_failure(database: Database, run: Run) -> None:
    receiver = Receiver(status=307).start()
    try:
        engine = engine_for(database, endpoint(receiver.url))

        async def main() -> None:
            await engine.run_once()
            await emit(database, [pushed("repo", 1)])
            await drain(engine, lambda: len(receiver.answered) >= 1)
            await engine.aclose()

        run(main())
        (delivery,) = run(DeliveryHistory(store_of(database)).history())
        assert delivery.state is DeliveryState.PENDING
        assert (delivery.last_status, delivery.attempts) == (307, 1)
        assert "redirects are not followed" in delivery.last_error
    finally:
        receiver.close()


def test_two_nodes_never_send_the_same_delivery_twice(database: Database, run: Run) -> None:
    receiver = Receiver(delay=0.02).start()
    try:
        events = [pushed(f"repo{i % 4}", i) for i in range(40)]
        nodes = [engine_for(database, endpoint(receiver.url)) for _ in range(2)]

        async def main() -> None:
            await nodes[0].run_once()
            await emit(database, events)
            done = lambda: receiver.accepted() >= len(events)  # noqa: E731
            await asyncio.gather(*(drain(node, done) for node in nodes))
            for node in nodes:
                await node.aclose()

        run(main())
        ids = [e["id"] for e in receiver.events()]
        assert sorted(ids) == sorted(e.id for e in events), "each event exactly once"
        expected = by_repository(
            [{"id": e.id, "target": {"repository": e.repository}} for e in events]
        )
        assert by_repository(receiver.events()) == expected
    finally:
        receiver.close()


def test_pruning_keeps_what_a_subscription_has_not_finished(database: Database, run: Run) -> None:
    receiver = Receiver().start()
    try:
        delivered, waiting = pushed("done", 1), pushed("busy", 2)
        engine = engine_for(database, endpoint(receiver.url), retention=0.0)
        store = store_of(database)

        async def main() -> tuple[int, int]:
            await engine.run_once()
            await emit(database, [delivered])
            await drain(engine, lambda: len(receiver.events()) >= 1)
            receiver.stop()
            await emit(database, [waiting])
            await engine.run_once()  # dispatched; its attempt fails: still pending
            await asyncio.sleep(0.01)
            removed = await store.prune(time.time())
            await engine.aclose()
            return removed

        assert run(main()) == (1, 1)
        left = run(database.fetchall("SELECT event_id FROM outbox_events"))
        assert [str(r[0]) for r in left] == [waiting.id]
        (pending,) = run(DeliveryHistory(store).history())
        assert (pending.event_id, pending.state) == (waiting.id, DeliveryState.PENDING)
    finally:
        receiver.close()


def test_a_slow_receiver_holds_one_slot_not_the_other_subscriptions(
    database: Database, run: Run
) -> None:
    slow, fast = Receiver(delay=30.0).start(), Receiver().start()
    patient = RetryPolicy(timeout_seconds=60.0, backoff_seconds=0.01)
    try:
        events = [pushed("repo", n) for n in range(10)]
        engine = engine_for(
            database,
            endpoint(slow.url, name="slow", policy=patient),
            endpoint(fast.url, name="fast"),
            concurrency=4,
        )
        history = DeliveryHistory(store_of(database))

        async def main() -> list[Any]:
            await engine.run_once()
            await emit(database, events)
            forever = asyncio.create_task(engine.run_forever())
            deadline = time.monotonic() + 25
            while fast.accepted() < len(events):  # one after the other: one lane
                assert time.monotonic() < deadline, "the fast receiver waited for the slow one"
                await asyncio.sleep(0.02)
            slow_side = await history.history(subscription="notifications:slow")
            forever.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forever
            return slow_side

        slow_side = run(main())
        assert [e["id"] for e in fast.events()] == [e.id for e in events]
        first = min(slow_side, key=lambda d: d.id)
        assert (first.state, first.attempts, first.last_status) == (DeliveryState.PENDING, 1, 0)
        assert len(slow.requests()) == 1, "the slow receiver still has its first request"
    finally:
        slow.close()
        fast.close()
