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
        await holds.hold(held_until, "one")
        assert await garbage.collectable_blobs(*grace_zero, 10) == []
        assert await garbage.mark_deleting(A, *grace_zero) is None
        assert await holds.ready_digests() == {A, B}

        await holds.release(held_until, now - 1, "one", now)  # an ordinary pin, expired too
        assert set(await garbage.collectable_blobs(*grace_zero, 10)) == {(A, 10), (B, 20)}

    run(main())


def test_two_backups_at_once_keep_each_other_s_blobs_held(run: Run, metadata: SqlMetadata) -> None:
    holds = SqlBlobHolds(metadata.db)

    async def pin() -> float:
        row = await metadata.db.fetchone("SELECT pinned_until FROM blobs WHERE digest = ?", (A,))
        assert row is not None
        return float(row[0])

    async def main() -> None:
        await metadata.commit_blob("repo", A, 10)
        t = float(int(time.time())) + 10_000  # past the pin the push took
        await holds.hold(t + 5_000, "first")
        await holds.hold(t + 9_000, "second")  # started later, holds longer
        assert await pin() == t + 9_000
        await holds.release(t + 9_000, t + 1_100, "second", t + 1_000)  # the second ends first
        assert await pin() == t + 5_000, "the first backup still needs it"
        await holds.release(t + 5_000, t + 1_200, "first", t + 1_100)
        assert await pin() == t + 1_200
        await holds.hold(t + 3_000, "third")
        await holds.hold(t + 2_000, "dead")  # a backup that was killed: its hold just runs out
        await holds.release(t + 3_000, t + 2_600, "third", t + 2_500)
        assert await pin() == t + 2_600  # the dead one's hold ended at t + 2000: not running

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
