"""Pull times (SQLite and PostgreSQL): noted in memory, written in batches, never moved back;
retention's "not pulled for" plans the same in a dry run as in the real run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from dockyard.core.events import Event
from dockyard.persistence.sql import Database, SqlMetadata
from dockyard.persistence.sql.inventory import SqlInventory
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.persistence.sql.pulls import SqlPulls
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.lifecycle.pulls import PullRecorder
from dockyard.services.lifecycle.retention import RetentionService
from dockyard.services.lifecycle.retention_plan import DAY, RetentionPolicy
from support.lifecycle_data import digest, manifest

Run = Callable[[Awaitable[Any]], Any]
START = time.time()


class Counter:
    def __init__(self) -> None:
        self.counts: dict[str, float] = {}

    def count(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount

    def gauge(self, name: str, value: float, **labels: str) -> None:
        return None


class FlakyStore:
    """Fails the first ``failures`` flushes, then records into ``pulls``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.pulls: list[tuple[str, str, float]] = []
        self.events: list[Event] = []

    async def record_pulls(
        self, pulls: list[tuple[str, str, float]], events: Sequence[Event] = ()
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is away")
        self.pulls += pulls
        self.events += events


async def _pulled(database: Database, repository: str) -> dict[str, float | None]:
    entries = await SqlInventory(database).repository_manifests(repository)
    return {e.digest: e.last_pulled_at for e in entries}


def test_pulls_are_batched_and_never_move_back(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    async def main() -> None:
        for seed in ("a", "b"):
            assert await metadata.put_manifest("team/app", manifest(seed, ())) == []
        late = PullRecorder(SqlPulls(database), clock=lambda: START + 100)
        for _ in range(1000):
            late.seen("team/app", digest("a"))
        late.seen("team/gone", digest("a"))  # no such manifest: nothing matches
        assert late.pending == 2, "one entry per manifest however many pulls"
        assert await late.flush() and late.pending == 0
        early = PullRecorder(SqlPulls(database), clock=lambda: START + 50)
        early.seen("team/app", digest("a"))
        early.seen("team/app", digest("b"))
        assert await early.flush()
        pulled = await _pulled(database, "team/app")
        assert pulled == {digest("a"): START + 100, digest("b"): START + 50}

    run(main())


def test_a_failed_flush_is_counted_and_retried(run: Run) -> None:
    store, telemetry = FlakyStore(failures=1), Counter()
    clock = iter([1.0, 2.0, 3.0])
    recorder = PullRecorder(store, telemetry=telemetry, clock=lambda: next(clock))

    async def main() -> None:
        recorder.seen("team/app", "sha256:1")
        assert not await recorder.flush()
        assert telemetry.counts == {"pull_flush_failures": 1} and recorder.pending == 1
        recorder.seen("team/app", "sha256:2")
        recorder.seen("team/app", "sha256:1")  # newer than the one kept from the failed flush
        assert await recorder.flush()
        assert sorted(store.pulls) == [("team/app", "sha256:1", 3.0), ("team/app", "sha256:2", 2.0)]
        assert telemetry.counts["pulls_recorded"] == 2

    run(main())


def test_the_loop_flushes_on_shutdown(run: Run) -> None:
    store = FlakyStore(failures=0)
    recorder = PullRecorder(store, interval_seconds=3600)

    async def main() -> None:
        task = asyncio.create_task(recorder.run_forever())
        await asyncio.sleep(0)
        recorder.seen("team/app", "sha256:1")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert [p[:2] for p in store.pulls] == [("team/app", "sha256:1")]

    run(main())


def _retention(database: Database, policy: RetentionPolicy) -> RetentionService:
    store, inventory = SqlLifecycleStore(database), SqlInventory(database)
    return RetentionService(
        SqlMetadata(database), inventory, store,
        ImmutabilityService(store, inventory, ttl_seconds=0), (policy,), grace_seconds=0,
        clock=lambda: START + 100 * DAY,
    )  # fmt: skip


async def _pull(database: Database, days: float, *digests: str) -> None:
    recorder = PullRecorder(SqlPulls(database), clock=lambda: START + days * DAY)
    for pulled in digests:
        recorder.seen("ci/app", pulled)
    assert await recorder.flush()


def test_not_pulled_for_dry_run_matches_the_real_run(
    run: Run, database: Database, metadata: SqlMetadata
) -> None:
    policy = RetentionPolicy("idle", repositories="ci/**", not_pulled_for=30 * DAY, untagged=True)
    service = _retention(database, policy)
    child = manifest("child", ())
    index = replace(manifest("index", (), tags=("multi",)), child_digests=(child.digest,))

    async def main() -> None:
        for seed, tags in (("recent", ("t1",)), ("stale", ("t2",)), ("never", ("t3",))):
            assert await metadata.put_manifest("ci/app", manifest(seed, (), tags=tags)) == []
        assert await metadata.put_manifest("ci/app", child) == []
        assert await metadata.put_manifest("ci/app", index) == []
        await _pull(database, 90, digest("recent"), child.digest)  # 10 days before "now"
        await _pull(database, 10, digest("stale"))  # 90 days before
        dry = await service.run(dry_run=True)
        reasons = {d.tags: d.reason for d in dry.decisions}
        assert reasons[("t1",)] == "pulled 10 days ago (within 30 days)"
        assert reasons[("multi",)] == "pulled 10 days ago (within 30 days)", "its child was"
        assert reasons[("t2",)].startswith("not pulled since ")
        assert "(90 days), longer than 30 days" in reasons[("t2",)]
        assert reasons[("t3",)].startswith("not pulled since its push 100 days ago")
        assert {d.tags for d in dry.planned} == {("t2",), ("t3",)}
        real = await service.run(actor="test")
        assert [d.digest for d in real.deleted] == [d.digest for d in dry.planned]
        assert set(await _pulled(database, "ci/app")) == {
            digest("recent"), child.digest, index.digest,
        }  # fmt: skip

    run(main())


def test_nothing_is_written_while_read_only(run: Run) -> None:
    store, read_only = FlakyStore(failures=0), [True]

    async def paused() -> bool:
        return read_only[0]

    recorder = PullRecorder(store, paused=paused)

    async def main() -> None:
        recorder.seen("team/app", "sha256:1")
        assert not await recorder.flush() and recorder.pending == 1 and store.pulls == []
        read_only[0] = False
        assert await recorder.flush() and [p[:2] for p in store.pulls] == [("team/app", "sha256:1")]

    run(main())
