"""Backup holds and the after-restore reset, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.persistence.sql import SqlGarbageStore, SqlMetadata
from dockyard.persistence.sql.backup import SqlBlobHolds, holds_content, reset_restored

Run = Callable[[Awaitable[Any]], Any]


def digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


A, B = digest("a"), digest("b")


def test_a_hold_outlasts_a_grace_of_zero_and_release_gives_it_back(
    run: Run, metadata: SqlMetadata
) -> None:
    garbage, holds = SqlGarbageStore(metadata.db), SqlBlobHolds(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        await metadata.commit_blob("repo", B, 20)
        now = time.time() + 10_000  # later than every pin taken so far, as after an hour
        # the cut-offs of `gc --grace 0s` (a pin lasts 3600 s): everything unreferenced goes
        grace_zero = (now + 3600.0, now)
        assert set(await garbage.collectable_blobs(*grace_zero, 10)) == {(A, 10), (B, 20)}

        held_until = float(int(now + 86_400))
        await holds.hold(held_until)
        assert await garbage.collectable_blobs(*grace_zero, 10) == []
        assert await garbage.mark_deleting(A, *grace_zero) is None
        assert await holds.ready_digests() == {A, B}

        await holds.release(held_until, now - 1)  # the ordinary pin it becomes has expired too
        assert set(await garbage.collectable_blobs(*grace_zero, 10)) == {(A, 10), (B, 20)}

    run(main())


def test_release_never_moves_back_a_pin_it_did_not_set(run: Run, metadata: SqlMetadata) -> None:
    holds = SqlBlobHolds(metadata.db)

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        await holds.hold(5_000.0)
        await holds.hold(9_000.0)  # a second backup, holding longer
        await holds.release(5_000.0, 100.0)  # the first one ends
        row = await metadata.db.fetchone("SELECT pinned_until FROM blobs WHERE digest = ?", (A,))
        assert row is not None and float(row[0]) >= 9_000.0

    run(main())


def test_reset_requeues_running_jobs_and_drops_unready_blobs(
    run: Run, metadata: SqlMetadata
) -> None:
    db = metadata.db

    async def main() -> None:
        assert not await holds_content(db)
        await metadata.commit_blob("repo", A, 10)
        await db.execute("UPDATE blobs SET state = 'deleting' WHERE digest = ?", (A,))
        await metadata.commit_blob("repo", B, 20)
        assert await holds_content(db)
        await db.execute("DELETE FROM jobs")
        await db.execute(
            "INSERT INTO jobs(kind, state, run_after, lease_owner, lease_until, created_at) "
            "VALUES ('gc', 'running', 0, 'node-1', 99999999999, 0)"
        )
        assert await db.transaction(reset_restored) == 1
        jobs = await db.fetchall("SELECT state, lease_owner, lease_until FROM jobs")
        assert [(str(s), str(o), float(u)) for s, o, u in jobs] == [("queued", "", 0.0)]
        blobs = await db.fetchall("SELECT digest FROM blobs")
        assert [str(r[0]) for r in blobs] == [B]

    run(main())
