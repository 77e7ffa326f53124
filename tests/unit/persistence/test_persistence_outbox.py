"""The outbox: an event is stored exactly when its change is, in the same transaction, on
SQLite and on a real PostgreSQL; read back in sequence order, a page at a time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from dockyard.core.events import EventKind, EventOrigin, EventTarget, StoredEvent
from dockyard.persistence.lifecycle_records import ImmutableTagError, ManifestFacts
from dockyard.persistence.sql import Database, Session, SqlMetadata, SqlOutbox
from dockyard.persistence.sql.inventory import SqlInventory
from unit.persistence.test_persistence_manifests import (
    CONFIG,
    LAYER,
    OCI_INDEX,
    digest,
    manifest,
    push_blobs,
)

Run = Callable[[Awaitable[Any]], Any]
ALICE = EventOrigin(actor="alice", request_id="req-1")


def events(run: Run, database: Database, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
    return list(run(SqlOutbox(database).events_after(after, limit)))


def kinds(run: Run, database: Database) -> list[tuple[str, str]]:
    return [(e.event.kind.value, e.event.target.digest) for e in events(run, database)]


def test_an_index_pushed_with_its_tags_is_one_event_listing_its_children(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        assert await metadata.put_manifest("repo", manifest("amd64")) == []
        assert await metadata.put_manifest("repo", manifest("arm64")) == []
        index = manifest(
            "index",
            blobs=(),
            children=(digest("amd64"), digest("arm64")),
            tags=("latest", "1.0"),
            media_type=OCI_INDEX,
        )
        assert await metadata.put_manifest("repo", index, origin=ALICE) == []

    run(main())
    (stored,) = events(run, database)  # the children were recorded without an origin
    event = stored.event
    assert event.kind is EventKind.MANIFEST_PUSHED
    assert (event.repository, event.actor, event.request_id) == ("repo", "alice", "req-1")
    assert event.target == EventTarget(
        digest("index"),
        OCI_INDEX,
        len(b'{"name": "index"}'),
        tags=("latest", "1.0"),
        children=(digest("amd64"), digest("arm64")),
    )
    assert len(event.id) == 32 and event.time > 0


def test_a_refused_push_leaves_no_event(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        missing = await metadata.put_manifest("repo", manifest("m"), origin=ALICE)
        assert missing == [CONFIG, LAYER]
        await push_blobs(metadata, "repo")
        first = manifest("one", tags=("stable",))
        assert await metadata.put_manifest("repo", first, origin=ALICE) == []
        moved = replace(manifest("two", tags=("stable",)), frozen_tags=("stable",))
        with pytest.raises(ImmutableTagError):
            await metadata.put_manifest("repo", moved, origin=ALICE)
        assert await metadata.manifest_by_digest("repo", digest("two")) is None

    run(main())
    assert kinds(run, database) == [("manifest.pushed", digest("one"))]


class InjectedError(Exception):
    pass


class FailsBeforeCommit:
    """A database whose transactions run their work, then fail before committing; it notes
    how many events the transaction saw just before it failed."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.seen_inside: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def transaction(self, work: Callable[[Session], Awaitable[Any]]) -> Any:
        async def then_fail(session: Session) -> Any:
            await work(session)
            row = await session.fetchone("SELECT count(*) FROM outbox_events")
            assert row is not None
            self.seen_inside.append(int(row[0]))
            raise InjectedError

        return await self.inner.transaction(then_fail)


def test_a_failure_after_the_event_insert_rolls_back_event_and_change(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    run(push_blobs(metadata, "repo"))
    run(metadata.put_manifest("repo", manifest("kept", tags=("v1",)), origin=ALICE))
    failing = FailsBeforeCommit(database)
    broken = SqlMetadata(failing)  # type: ignore[arg-type]
    writes: list[Callable[[], Awaitable[Any]]] = [
        lambda: broken.put_manifest("repo", manifest("new", tags=("v2",)), origin=ALICE),
        lambda: broken.delete_tag("repo", "v1", origin=ALICE),
        lambda: broken.delete_manifest("repo", digest("kept"), origin=ALICE),
        lambda: broken.unlink_blob("repo", LAYER, origin=ALICE),
        lambda: broken.link_blob("other", CONFIG, source="repo", origin=ALICE),
    ]
    for write in writes:
        with pytest.raises(InjectedError):
            run(write())
    assert failing.seen_inside == [2] * len(writes), "each write had inserted its event"
    assert kinds(run, database) == [("manifest.pushed", digest("kept"))]
    assert run(metadata.manifest_by_tag("repo", "v1")) is not None
    assert run(metadata.manifest_by_digest("repo", digest("new"))) is None
    assert run(metadata.linked_blob("repo", LAYER)) is not None
    assert run(metadata.linked_blob("other", CONFIG)) is None


def test_deletions_and_mounts_each_store_their_event(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("m", tags=("a", "b", "c")))
        assert await metadata.delete_tag("repo", "a", origin=ALICE)
        assert not await metadata.delete_tag("repo", "a", origin=ALICE)  # gone: no event
        assert await metadata.delete_manifest("repo", digest("m"), origin=ALICE)
        assert not await metadata.delete_manifest("repo", digest("m"), origin=ALICE)
        assert await metadata.link_blob("copy", LAYER, source="repo", origin=ALICE)
        assert await metadata.link_blob("copy", LAYER, source="repo", origin=ALICE)  # no-op
        assert await metadata.unlink_blob("repo", LAYER, origin=ALICE)
        assert not await metadata.unlink_blob("repo", LAYER, origin=ALICE)

    run(main())
    stored = events(run, database)
    assert [(e.event.kind, e.event.repository) for e in stored] == [
        (EventKind.TAG_DELETED, "repo"),
        (EventKind.MANIFEST_DELETED, "repo"),
        (EventKind.BLOB_MOUNTED, "copy"),
        (EventKind.BLOB_DELETED, "repo"),
    ]
    targets = [e.event.target for e in stored]
    size = len(b'{"name": "m"}')
    assert targets[0] == EventTarget(digest("m"), manifest("m").media_type, size, tags=("a",))
    assert targets[1].tags == ("b", "c") and targets[1].size == size
    assert targets[2] == EventTarget(LAYER, "", 20, source="repo")
    assert targets[3] == EventTarget(LAYER)


def test_checked_deletions_store_an_event_only_when_not_vetoed(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    inventory = SqlInventory(database)

    def refuse(_facts: ManifestFacts) -> str:
        return "kept by a rule"

    async def main() -> None:
        await push_blobs(metadata, "repo")
        await metadata.put_manifest("repo", manifest("m", tags=("v1",)))
        check = inventory.delete_manifest_checked
        assert await check("repo", digest("m"), refuse, origin=ALICE) == "kept by a rule"
        assert await check("repo", digest("m"), lambda _f: None, origin=ALICE) == "deleted"
        await metadata.put_manifest("repo", manifest("n", tags=("a", "b")))
        assert not await inventory.delete_tag_if("repo", "a", digest("m"), origin=ALICE)
        assert await inventory.delete_tag_if("repo", "a", digest("n"), origin=ALICE)
        unlink = inventory.unlink_blob_checked
        assert await unlink("repo", CONFIG, lambda _u: "no", origin=ALICE) == "no"
        assert await unlink("repo", CONFIG, lambda _u: None, origin=ALICE) == "deleted"

    run(main())
    assert kinds(run, database) == [
        ("manifest.deleted", digest("m")),
        ("tag.deleted", digest("n")),
        ("blob.deleted", CONFIG),
    ]
    stored = events(run, database)
    assert stored[0].event.target.tags == ("v1",) and stored[1].event.target.tags == ("a",)


def test_events_are_read_after_a_position_in_order_a_page_at_a_time(
    run: Run, metadata: SqlMetadata, database: Database
) -> None:
    async def main() -> None:
        await push_blobs(metadata, "repo")
        for number in range(5):
            origin = EventOrigin("bob", f"req-{number}")
            await metadata.put_manifest("repo", manifest(f"m{number}"), origin=origin)

    run(main())
    outbox = SqlOutbox(database)
    first = events(run, database, 0, 2)
    rest = events(run, database, first[-1].sequence, 10)
    whole = first + rest
    assert [e.event.request_id for e in whole] == [f"req-{n}" for n in range(5)]
    sequences = [e.sequence for e in whole]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5
    assert run(outbox.last_sequence()) == sequences[-1]
    assert events(run, database, sequences[-1]) == []
    assert len({e.event.id for e in whole}) == 5
