"""The remaining registry events at the store (SQLite and a real PostgreSQL): ``blob.pushed``
with a committed upload, a push's moved tags with the digests they left (read by the tag
upsert itself), untagged manifests deleted by garbage collection; a refused or failed change
leaves no event."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dockyard.core.events import EventKind, EventOrigin, EventTarget, StoredEvent
from dockyard.persistence.sql import Database, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.gc import SqlGarbageStore
from unit.persistence.test_persistence_manifests import CONFIG, LAYER, digest, manifest

Run = Callable[[Awaitable[Any]], Any]
ALICE = EventOrigin(actor="alice", request_id="req-7")
GC = EventOrigin(actor="gc (scheduled)")


def stored(run: Run, database: Database) -> list[StoredEvent]:
    return list(run(SqlOutbox(database).events_after(0, 1000)))


def test_a_committed_upload_is_a_blob_pushed_event(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        assert await metadata.claim_blob(CONFIG, 10) == "publishing"
        blob = await metadata.commit_blob("repo", CONFIG, 10, claimed=True, origin=ALICE)
        assert blob is not None
        await metadata.commit_blob("repo", LAYER, 20)  # an import: no origin, no event

    run(main())
    (event,) = [s.event for s in stored(run, database)]
    assert (event.kind, event.repository, event.actor) == (EventKind.BLOB_PUSHED, "repo", "alice")
    assert event.target == EventTarget(CONFIG, size=10)


def test_a_commit_that_finds_the_blob_collected_leaves_no_event(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        assert await metadata.claim_blob(CONFIG, 10) == "publishing"
        await database.execute("DELETE FROM blobs WHERE digest = ?", (CONFIG,))  # a sweep won
        assert await metadata.commit_blob("repo", CONFIG, 10, claimed=True, origin=ALICE) is None

    run(main())
    assert stored(run, database) == []


def test_a_push_that_moves_tags_names_what_they_pointed_to(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        await metadata.commit_blob("repo", CONFIG, 10)
        await metadata.commit_blob("repo", LAYER, 20)
        first = manifest("first", tags=("v1", "latest"))
        assert await metadata.put_manifest("repo", first, origin=ALICE) == []
        again = manifest("first", tags=("latest",))  # the same target: not a move
        assert await metadata.put_manifest("repo", again, origin=ALICE) == []
        second = manifest("second", tags=("latest", "v2"))
        assert await metadata.put_manifest("repo", second, origin=ALICE) == []

    run(main())
    pushes = [s.event.target for s in stored(run, database)]
    assert [p.previous for p in pushes] == [{}, {}, {"latest": digest("first")}]
    assert pushes[2].tags == ("latest", "v2")
    moved = run(metadata.manifest_by_tag("repo", "latest"))
    assert moved is not None and moved.digest == digest("second")


def test_the_previous_target_is_the_one_just_left_not_an_older_one(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        await metadata.commit_blob("repo", CONFIG, 10)
        await metadata.commit_blob("repo", LAYER, 20)
        assert await metadata.put_manifest("repo", manifest("a", tags=("t",))) == []
        assert await metadata.put_manifest("repo", manifest("b", tags=("t",))) == []
        assert await metadata.delete_manifest("repo", digest("a"))  # previous_manifest_id
        assert await metadata.put_manifest("repo", manifest("c", tags=("t",)), origin=ALICE) == []

    run(main())
    (push,) = [s.event.target for s in stored(run, database)]
    assert push.previous == {"t": digest("b")}


@pytest.mark.parametrize("tagged", [False, True])
def test_gc_deletes_an_untagged_manifest_with_its_event(
    run: Run, metadata: SqlMetadata, database: Database, tagged: bool
) -> None:
    garbage = SqlGarbageStore(database)

    async def main() -> bool:
        await metadata.commit_blob("repo", CONFIG, 10)
        await metadata.commit_blob("repo", LAYER, 20)
        tags = ("keep",) if tagged else ()
        assert await metadata.put_manifest("repo", manifest("old", tags=tags)) == []
        later = time.time() + 10
        return await garbage.delete_untagged("repo", digest("old"), later, 0, origin=GC)

    deleted = run(main())
    events = [s.event for s in stored(run, database)]
    if tagged:  # refused: nothing deleted, no event
        assert not deleted and events == []
        return
    (event,) = events
    assert deleted and (event.kind, event.actor) == (EventKind.MANIFEST_DELETED, "gc (scheduled)")
    assert (event.target.digest, event.target.size) == (digest("old"), len(b'{"name": "old"}'))
