"""The runner: handlers by kind, lease renewal, stopping (finish or give back), takeover,
pausing, schedules, and the loops it owns; on a real SQLite (and PostgreSQL where the
leases matter)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from dockyard.jobs.runner import JobRunner, RunnerOptions
from dockyard.services.jobs.model import Job, JobFailedError
from dockyard.services.jobs.queue import JobQueue
from unit.jobs.conftest import Backend, Recorded, Run


async def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_handlers_run_by_kind_and_outcomes_are_recorded(run: Run[Any], backend: Backend) -> None:
    telemetry = Recorded()

    async def works(job: Job) -> str:
        return f"sent {job.payload['n']}"

    async def breaks(job: Job) -> str:
        raise JobFailedError("receiver said 503")

    async def main() -> None:
        queue = await backend.node("a", time.time)
        runner = JobRunner(queue, RunnerOptions(concurrency=2), telemetry=telemetry)
        runner.handle("send", works)
        runner.handle("flaky", breaks)
        ok = await queue.enqueue("send", {"n": 3})
        bad = await queue.enqueue("flaky", max_attempts=1)
        stray = await queue.enqueue("nobody-handles-this")
        assert await runner.run_due() == 2
        assert ok is not None and bad is not None and stray is not None
        done, dead, waiting = [await queue.get(i) for i in (ok, bad, stray)]
        assert done is not None and (done.state, done.result) == ("done", "sent 3")
        assert dead is not None and (dead.state, dead.last_error) == ("dead", "receiver said 503")
        assert waiting is not None and waiting.state == "queued", "no handler here: left alone"

    run(main())
    assert telemetry.counts[("job_runs", "send", "ok")] == 1
    assert telemetry.counts[("job_runs", "flaky", "dead")] == 1


def test_the_lease_is_renewed_while_the_handler_works(run: Run[Any], backend: Backend) -> None:
    async def main() -> None:
        a = await backend.node("a", time.time, lease=1.0)
        b = await backend.node("b", time.time, lease=1.0)
        stolen: list[object] = []

        async def slow(job: Job) -> str:
            for _ in range(5):
                await asyncio.sleep(0.4)
                stolen.append(await b.claim(["slow"]))
            return "slow but steady"

        runner = JobRunner(a)
        runner.handle("slow", slow)
        job_id = await a.enqueue("slow")
        assert await runner.run_due() == 1
        assert stolen == [None] * 5, "the lease stayed with a"
        record = await a.get(job_id or 0)
        assert record is not None and (record.state, record.attempts) == ("done", 1)

    run(main())


def test_stop_gives_a_running_job_back(run: Run[Any], backend: Backend) -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def forever(job: Job) -> str:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    async def main() -> None:
        a = await backend.node("a", time.time)
        runner = JobRunner(a, RunnerOptions(poll_seconds=0.05, stop_seconds=0.2))
        runner.handle("long", forever)
        job_id = await a.enqueue("long")
        await runner.start()
        await asyncio.wait_for(started.wait(), 10)
        await runner.stop()
        assert cancelled.is_set()
        record = await a.get(job_id or 0)
        assert record is not None and (record.state, record.attempts) == ("queued", 0)
        b = await backend.node("b", time.time)
        again = await b.claim(["long"])
        assert again is not None and (again.id, again.attempt) == (job_id, 1)

    run(main())


def test_stop_lets_a_short_job_finish(run: Run[Any], backend: Backend) -> None:
    started = asyncio.Event()

    async def short(job: Job) -> str:
        started.set()
        await asyncio.sleep(0.3)
        return "finished while stopping"

    async def main() -> None:
        a = await backend.node("a", time.time)
        runner = JobRunner(a, RunnerOptions(poll_seconds=0.05, stop_seconds=30))
        runner.handle("short", short)
        job_id = await a.enqueue("short")
        await runner.start()
        await asyncio.wait_for(started.wait(), 10)
        await runner.stop()
        record = await a.get(job_id or 0)
        assert record is not None and (record.state, record.result) == (
            "done", "finished while stopping")  # fmt: skip

    run(main())


def test_a_node_that_lost_its_lease_stops_the_job(run: Run[Any], backend: Backend) -> None:
    telemetry = Recorded()

    async def main() -> None:
        a = await backend.node("a", time.time, lease=0.6)
        later = await backend.node("b", lambda: time.time() + 100)  # sees a's lease lapsed
        cancelled = asyncio.Event()

        async def slow(job: Job) -> str:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "never"

        runner = JobRunner(a, telemetry=telemetry)
        runner.handle("slow", slow)
        await a.enqueue("slow")
        job = await a.claim(["slow"])
        assert job is not None
        execution = asyncio.create_task(runner.execute(job))
        await asyncio.sleep(0.05)
        assert await later.claim(["slow"]) is not None, "taken over"
        assert await asyncio.wait_for(execution, 10) == "lost"
        assert cancelled.is_set()
        record = await a.get(job.id)
        assert record is not None and (record.lease_owner, record.state) == ("b", "running")

    run(main())
    assert telemetry.counts[("job_runs", "slow", "lost")] == 1


def test_pausable_kinds_wait_while_paused(run: Run[Any], backend: Backend) -> None:
    paused = True

    async def is_paused() -> bool:
        return paused

    async def work(job: Job) -> str:
        return job.kind

    async def main() -> None:
        nonlocal paused
        queue = await backend.node("a", time.time)
        runner = JobRunner(queue, paused=is_paused)
        runner.handle("gc", work, pausable=True)
        runner.handle("webhook", work)
        await queue.enqueue("gc")
        await queue.enqueue("webhook")
        assert await runner.run_due() == 1, "only the webhook runs while read-only"
        paused = False
        assert await runner.run_due() == 1

    run(main())


def test_a_schedule_runs_once_per_interval_in_the_runner(run: Run[Any], backend: Backend) -> None:
    ran: list[int] = []

    async def tick(job: Job) -> str:
        ran.append(job.id)
        return "tick"

    async def main() -> None:
        queue = await backend.node("a", time.time)
        runner = JobRunner(queue, RunnerOptions(poll_seconds=0.05))
        runner.handle("tick", tick)
        runner.every("tick", 3600)
        await runner.start()

        async def ran_once() -> bool:
            return len(ran) == 1

        await _wait_for(ran_once)
        await asyncio.sleep(0.3)
        await runner.stop()
        overview = await queue.overview()
        [kind] = overview.kinds
        assert kind.schedule is not None and kind.last is not None and kind.last.result == "tick"

    run(main())
    assert len(ran) == 1


def test_local_loops_run_without_queue_work_and_stop_with_the_runner(
    run: Run[Any], backend: Backend
) -> None:
    events: list[str] = []

    async def flush_loop() -> None:
        events.append("started")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            events.append("flushed on stop")
            raise

    async def work(job: Job) -> str:
        events.append("job ran")
        return "no"

    async def main() -> None:
        queue = await backend.node("a", time.time)
        runner = JobRunner(queue, RunnerOptions(poll_seconds=0.05))
        runner.handle("gc", work)
        runner.local("audit-buffer", flush_loop)
        await queue.enqueue("gc")
        await runner.start(queue_work=False)  # dockyard serve --no-jobs
        await asyncio.sleep(0.3)
        await runner.stop()

    run(main())
    assert events == ["started", "flushed on stop"]


def test_run_here_records_a_run_asked_for_by_hand(run: Run[Any], backend: Backend) -> None:
    async def by_hand(job: Job) -> str:
        return f"collected ({job.payload})"

    async def main() -> None:
        queue: JobQueue = await backend.node("cli", time.time)
        runner = JobRunner(queue)
        assert await runner.run_here("gc", by_hand, {"delete_untagged": True}) == "ok"
        [kind] = (await queue.overview()).kinds
        assert kind.last is not None
        assert (kind.kind, kind.last.lease_owner, kind.last.result) == (
            "gc", "cli", "collected ({'delete_untagged': True})")  # fmt: skip

    run(main())
