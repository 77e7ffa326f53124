"""``manifest.pulled`` events (SQLite and PostgreSQL): many GETs noted in memory become one
event per (repository, digest, actor) per flush, stored in the transaction that writes the
pull times; a HEAD is no pull event; a failed flush stores nothing and the next one stores
each event once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from dockyard.core.events import Event, EventKind, StoredEvent
from dockyard.persistence.sql import Database, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.inventory import SqlInventory
from dockyard.persistence.sql.pulls import SqlPulls
from dockyard.services.lifecycle.pulls import PullRecorder
from support.lifecycle_data import OCI, digest, manifest

Run = Callable[[Awaitable[Any]], Any]
NOW = 1_800_000_000.0


async def _events(database: Database) -> list[StoredEvent]:
    return await SqlOutbox(database).events_after(0, 1000)


async def _pushed(metadata: SqlMetadata) -> None:
    for seed, tags in (("one", ("v1", "latest")), ("two", ("v2",))):
        assert await metadata.put_manifest("team/app", manifest(seed, (), tags=tags)) == []


def _pull(recorder: PullRecorder, seed: str, actor: str | None, n: int, tag: str = "") -> None:
    for number in range(n):
        recorder.pulled("team/app", digest(seed), actor=actor, request_id=f"{actor}-{number}",
                        tag=tag, media_type=OCI, size=30)  # fmt: skip


def test_many_pulls_are_one_event_per_manifest_and_actor(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    clock = iter(NOW + n for n in range(1000))
    recorder = PullRecorder(SqlPulls(database), clock=lambda: next(clock))

    async def main() -> None:
        await _pushed(metadata)
        _pull(recorder, "one", "alice", 40, tag="v1")
        _pull(recorder, "one", "alice", 10, tag="latest")
        _pull(recorder, "one", None, 25)  # anonymous, by digest
        _pull(recorder, "two", "alice", 1, tag="v2")
        recorder.seen("team/app", digest("two"))  # a HEAD: a pull time, no pull event
        assert await recorder.flush()
        stored = await _events(database)
        pulls = {(s.event.target.digest, s.event.actor): s.event for s in stored}
        assert [s.event.kind for s in stored] == [EventKind.MANIFEST_PULLED] * 3
        alice = pulls[(digest("one"), "alice")]
        assert (alice.target.count, alice.target.tags) == (50, ("v1", "latest"))
        assert (alice.time, alice.request_id, alice.repository) == (NOW, "alice-0", "team/app")
        assert (alice.target.media_type, alice.target.size) == (OCI, 30)
        anonymous = pulls[(digest("one"), None)]
        assert (anonymous.target.count, anonymous.target.tags) == (25, ())
        assert pulls[(digest("two"), "alice")].target.count == 1
        entries = await SqlInventory(database).repository_manifests("team/app")
        assert all(e.last_pulled_at is not None for e in entries)
        assert await recorder.flush() and len(await _events(database)) == 3  # nothing new

    run(main())


class FailsOnce(SqlPulls):
    """Writes the pull times and events, then fails before the commit, once."""

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.failed = False

    async def record_pulls(
        self, pulls: list[tuple[str, str, float]], events: Sequence[Event] = ()
    ) -> None:
        if self.failed:
            await super().record_pulls(pulls, events)
            return
        self.failed = True

        async def work(session: Any) -> None:
            from dockyard.persistence.sql.outbox import record_many

            await record_many(session, events)
            raise OSError("the connection dropped before the commit")

        await self.db.transaction(work)


def test_a_failed_flush_stores_no_event_and_the_next_stores_each_once(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    recorder = PullRecorder(FailsOnce(database))

    async def main() -> None:
        await _pushed(metadata)
        _pull(recorder, "one", "alice", 3, tag="v1")
        assert not await recorder.flush()
        assert await _events(database) == []
        _pull(recorder, "one", "alice", 2, tag="v1")  # more pulls while the first batch waits
        assert await recorder.flush()
        (stored,) = await _events(database)
        assert (stored.event.target.count, stored.event.request_id) == (5, "alice-0")

    run(main())


def test_batches_of_manifests_keep_their_events(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    recorder = PullRecorder(SqlPulls(database))

    async def main() -> None:
        for n in range(600):  # more manifests than one transaction takes (BATCH = 500)
            recorder.pulled(f"team/r{n}", digest(str(n)), actor="bot", tag="v")
        assert await recorder.flush()
        stored = await _events(database)
        assert len(stored) == 600
        assert {s.event.repository for s in stored} == {f"team/r{n}" for n in range(600)}

    run(main())


def test_pull_times_and_their_events_commit_together(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    store = SqlPulls(database)

    async def main() -> None:
        await _pushed(metadata)
        recorder = PullRecorder(store)
        _pull(recorder, "one", "alice", 2, tag="v1")
        (event,) = [p.event(k) for k, p in recorder._pulls.items()]
        times = [("team/app", digest("one"), NOW)]
        with pytest.raises(Exception, match=r"(?i)unique"):  # the same event id twice
            await store.record_pulls(times, [event, event])
        entries = await SqlInventory(database).repository_manifests("team/app")
        assert all(e.last_pulled_at is None for e in entries), "rolled back with the events"
        assert await _events(database) == []

    run(main())
