"""Job leases: one node at a time runs a job, once per interval, resuming after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.jobs.scheduler import JobResult, ScheduledJob, Scheduler
from dockyard.persistence.sql.lifecycle import SqlLifecycleStore
from dockyard.services.schedule import RETRY_SECONDS, JobLeases

HOUR = 3600.0
Run = Callable[[Awaitable[Any]], Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _nodes(store: SqlLifecycleStore, clock: Clock, lease: float = 60.0) -> tuple[JobLeases, ...]:
    return tuple(JobLeases(store, holder=n, lease_seconds=lease, clock=clock) for n in "ab")


def test_one_node_runs_a_due_job_once_per_interval(run: Run, store: SqlLifecycleStore) -> None:
    clock = Clock()
    a, b = _nodes(store, clock)

    async def main() -> None:
        lease = await a.acquire_if_due("gc", HOUR)
        assert lease is not None, "never ran: due at once"
        assert await b.acquire_if_due("gc", HOUR) is None, "held by a"
        assert await b.acquire_now("gc") is None, "even by hand"
        await a.finish(lease, ok=True, summary="deleted 3 blobs")
        clock.now += HOUR - 1
        assert await b.acquire_if_due("gc", HOUR) is None, "not due yet"
        assert await b.acquire_now("gc") is not None, "a run by hand only needs the lease"
        [job] = await a.jobs()
        assert (job.holder, job.last_result, job.last_summary) == ("b", "ok", "deleted 3 blobs")

    run(main())


def test_a_failed_run_is_retried_sooner(run: Run, store: SqlLifecycleStore) -> None:
    clock = Clock()
    a, b = _nodes(store, clock)

    async def main() -> None:
        lease = await a.acquire_if_due("retention", 24 * HOUR)
        assert lease is not None
        await a.finish(lease, ok=False, summary="failed: database went away")
        clock.now += RETRY_SECONDS - 1
        assert await b.acquire_if_due("retention", 24 * HOUR) is None
        clock.now += 2
        assert await b.acquire_if_due("retention", 24 * HOUR) is not None

    run(main())


def test_a_lapsed_lease_is_taken_over(run: Run, store: SqlLifecycleStore) -> None:
    clock = Clock()
    a, b = _nodes(store, clock)

    async def main() -> None:
        crashed = await a.acquire_if_due("gc", HOUR)
        assert crashed is not None
        clock.now += 30
        assert await a.renew(crashed)
        clock.now += 61
        taken = await b.acquire_if_due("gc", HOUR)
        assert taken is not None, "the lease lapsed and the job never finished"
        assert not await a.renew(crashed), "a lost it"
        await a.finish(crashed, ok=True, summary="late")
        [job] = await b.jobs()
        assert job.holder == "b" and job.last_result == "", "a's late finish changed nothing"

    run(main())


def test_scheduler_runs_records_and_skips(run: Run, store: SqlLifecycleStore) -> None:
    clock = Clock()
    a, b = _nodes(store, clock)
    runs: list[str] = []

    async def work() -> JobResult:
        runs.append("run")
        return JobResult(True, f"run {len(runs)}")

    async def broken() -> JobResult:
        raise RuntimeError("disk on fire")

    async def paused() -> bool:
        return True

    job = ScheduledJob("gc", HOUR, work)

    async def main() -> None:
        assert await Scheduler(a, paused=paused).run_if_due(job) is None, "paused: not even tried"
        assert await Scheduler(a).run_if_due(job) == JobResult(True, "run 1")
        assert await Scheduler(b).run_if_due(job) is None
        clock.now += HOUR
        failed = await Scheduler(b).run_if_due(ScheduledJob("gc", HOUR, broken))
        assert failed is not None and not failed.ok and "disk on fire" in failed.summary
        [record] = await a.jobs()
        assert (record.last_result, record.lease_until) == ("failed", 0)

    run(main())
    assert runs == ["run"]


def test_scheduler_renews_the_lease_while_a_job_runs(run: Run, store: SqlLifecycleStore) -> None:
    a = JobLeases(store, holder="a", lease_seconds=0.3)
    b = JobLeases(store, holder="b", lease_seconds=0.3)
    seen: list[object] = []

    async def slow() -> JobResult:
        for _ in range(4):
            await asyncio.sleep(0.2)
            seen.append(await b.acquire_now("gc"))
        return JobResult(True, "slow")

    run(Scheduler(a).run_now(ScheduledJob("gc", HOUR, slow)))
    assert seen == [None, None, None, None], "the heartbeat kept the lease with a"
