"""The job queue's semantics on SQLite and PostgreSQL: one node per job, retries with backoff,
dead letters, unique keys, lease takeover, schedules shared by nodes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from dockyard.core.errors import RegistryError
from dockyard.persistence.sql.jobs import SqlJobStore
from dockyard.persistence.sqlite import SqliteDatabase
from dockyard.services.jobs.queue import JobQueue
from unit.jobs.conftest import Backend, Clock, Run

HOUR = 3600.0


def test_a_job_goes_from_queued_to_done_with_its_payload(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        node = await backend.node("a", clock)
        job_id = await node.enqueue("webhook.deliver", {"event": "e1", "n": [1, 2]})
        assert job_id is not None
        job = await node.claim(["webhook.deliver"])
        assert job is not None and job.id == job_id
        assert (job.payload, job.attempt, job.max_attempts) == ({"event": "e1", "n": [1, 2]}, 1, 5)
        assert await node.claim(["webhook.deliver"]) is None, "leased: not handed out twice"
        assert await node.complete(job, "delivered")
        record = await node.get(job_id)
        assert record is not None
        assert (record.state, record.result, record.lease_owner) == ("done", "delivered", "a")
        assert await node.claim(["webhook.deliver"]) is None

    run(main())


def test_only_registered_kinds_and_due_jobs_are_taken(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        node = await backend.node("a", clock)
        await node.enqueue("later", run_after=clock.now + 60)
        other = await node.enqueue("other")
        assert await node.claim(["later", "gc"]) is None, "not due yet; other is not asked for"
        clock.now += 60
        later = await node.claim(["later"])
        assert later is not None and later.kind == "later"
        taken = await node.claim(["other"])
        assert taken is not None and taken.id == other

    run(main())


def _race(backend: Backend, nodes: int) -> list[list[int]]:
    """``nodes`` threads, each with its own connection (pool) and event loop, claim jobs as
    fast as they can until none is left; the ids each one got."""
    taken: list[list[int]] = [[] for _ in range(nodes)]
    start = threading.Barrier(nodes)

    async def node(index: int) -> None:
        database = await backend.open_here()
        queue = JobQueue(backend.store(database), owner=f"node-{index}")
        try:
            start.wait()
            while (job := await queue.claim(["race"])) is not None:
                taken[index].append(job.id)
                await queue.complete(job, "ok")
        finally:
            await database.aclose()

    threads = [threading.Thread(target=asyncio.run, args=(node(i),)) for i in range(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return taken


def test_racing_nodes_take_each_job_exactly_once(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def fill() -> list[int]:
        node = await backend.node("producer", clock=lambda: 0.0)
        ids = [await node.enqueue("race", {"n": n}) for n in range(200)]
        return [i for i in ids if i is not None]

    ids = run(fill())
    taken = _race(backend, nodes=4)
    every = [job_id for got in taken for job_id in got]
    assert sorted(every) == sorted(ids), "each job once, none lost"
    assert sum(1 for got in taken if got) >= 2, f"the nodes shared the work: {taken}"


def test_failures_back_off_then_go_to_the_dead_letters(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        node = await backend.node("a", clock)
        job_id = await node.enqueue("flaky", max_attempts=3)
        waits = []
        for attempt in (1, 2):
            job = await node.claim(["flaky"])
            assert job is not None and job.attempt == attempt
            assert await node.fail(job, f"receiver down ({attempt})") == "failed"
            record = await node.get(job.id)
            assert record is not None and record.state == "failed"
            waits.append(record.run_after - clock.now)
            clock.now += waits[-1] - 0.01
            assert await node.claim(["flaky"]) is None, "not before its backoff"
            clock.now += 0.02
        assert 5.0 <= waits[0] <= 10.0 and 10.0 <= waits[1] <= 20.0, waits
        last = await node.claim(["flaky"])
        assert last is not None and last.last_attempt
        assert await node.fail(last, "receiver still down") == "dead"
        clock.now += 10 * HOUR
        assert await node.claim(["flaky"]) is None, "dead letters are not retried by themselves"
        dead = await node.get(job_id)
        assert dead is not None
        assert (dead.state, dead.attempts, dead.last_error) == ("dead", 3, "receiver still down")
        overview = await node.overview()
        assert [j.id for j in overview.dead_letters] == [job_id]
        assert await node.retry(job_id)
        assert not await node.retry(job_id), "only a dead job can be retried"
        again = await node.claim(["flaky"])
        assert again is not None and (again.id, again.attempt) == (job_id, 1)

    run(main())


def test_a_permanent_failure_is_dead_at_once(run: Run[Any], backend: Backend, clock: Clock) -> None:
    async def main() -> None:
        node = await backend.node("a", clock)
        await node.enqueue("hook", max_attempts=10)
        job = await node.claim(["hook"])
        assert job is not None
        assert await node.fail(job, "410 Gone", permanent=True) == "dead"

    run(main())


def test_a_unique_key_refuses_a_second_job(run: Run[Any], backend: Backend, clock: Clock) -> None:
    async def main() -> None:
        a, b = await backend.node("a", clock), await backend.node("b", clock)
        first = await a.enqueue("deliver", {"to": 1}, unique_key="event-42")
        assert first is not None
        assert await b.enqueue("deliver", {"to": 2}, unique_key="event-42") is None
        assert await b.enqueue("deliver", {"to": 3}, unique_key="event-43") is not None
        assert await b.enqueue("deliver", {"to": 4}) is not None, "no key: no limit"
        job = await a.claim(["deliver"])
        assert job is not None and job.payload == {"to": 1}
        await a.complete(job, "ok")
        assert await a.enqueue("deliver", unique_key="event-42") is None, "even once done"
        clock.now += 2 * HOUR
        assert await a.prune(HOUR) == 1
        assert await a.enqueue("deliver", unique_key="event-42") is not None, "until pruned"

    run(main())


def test_a_lapsed_lease_is_taken_over_and_the_old_owner_is_shut_out(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        a = await backend.node("a", clock, lease=30)
        b = await backend.node("b", clock, lease=30)
        job_id = await a.enqueue("gc", max_attempts=2)
        crashed = await a.claim(["gc"])
        assert crashed is not None
        clock.now += 20
        assert await a.renew(crashed), "renewed in time"
        clock.now += 29
        assert await b.claim(["gc"]) is None, "still held"
        clock.now += 2
        taken = await b.claim(["gc"])
        assert taken is not None and (taken.id, taken.attempt) == (job_id, 2)
        assert not await a.renew(crashed), "a lost it"
        assert not await a.complete(crashed, "late"), "a's late finish changes nothing"
        assert await b.complete(taken, "collected")
        record = await b.get(job_id)
        assert record is not None and (record.state, record.lease_owner) == ("done", "b")

    run(main())


def test_a_job_whose_last_attempt_lapsed_is_buried(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        a = await backend.node("a", clock, lease=30)
        job_id = await a.enqueue("poison", max_attempts=1)
        assert await a.claim(["poison"]) is not None
        clock.now += 31
        assert await a.claim(["poison"]) is None, "no attempts left to take it over with"
        assert await a.bury_lapsed() == 1
        record = await a.get(job_id)
        assert record is not None and record.state == "dead" and "lapsed" in record.last_error

    run(main())


def test_release_gives_the_job_back_without_counting_the_attempt(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        a, b = await backend.node("a", clock), await backend.node("b", clock)
        await a.enqueue("retention")
        job = await a.claim(["retention"])
        assert job is not None
        assert await a.release(job)
        again = await b.claim(["retention"])
        assert again is not None and (again.id, again.attempt) == (job.id, 1)

    run(main())


def test_a_schedule_enqueues_one_run_per_interval_among_nodes(
    run: Run[Any], backend: Backend, clock: Clock
) -> None:
    async def main() -> None:
        nodes = [await backend.node(name, clock) for name in "abc"]
        first = [await node.schedule_due("gc", HOUR) for node in nodes]
        assert len([i for i in first if i is not None]) == 1, first
        job = await nodes[1].claim(["gc"])
        assert job is not None
        await nodes[1].complete(job, "ok")
        clock.now += HOUR - 1
        assert [await node.schedule_due("gc", HOUR) for node in nodes] == [None] * 3
        clock.now += 1
        second = [await node.schedule_due("gc", HOUR) for node in reversed(nodes)]
        assert len([i for i in second if i is not None]) == 1, second
        clock.now += HOUR
        assert await nodes[0].schedule_due("gc", HOUR) is None, "the last run is still pending"
        [summary] = (await nodes[0].overview()).kinds
        assert summary.schedule is not None and summary.schedule.next_run == clock.now + HOUR
        assert (summary.waiting, summary.done) == (1, 1)

    run(main())


def test_schedules_race_between_threads_once(run: Run[Any], backend: Backend) -> None:
    """Nodes asking at the same moment from their own connections: one run enqueued."""
    results: list[int | None] = []

    async def node(index: int, start: threading.Barrier) -> None:
        database = await backend.open_here()
        queue = JobQueue(backend.store(database), owner=f"n{index}", clock=lambda: 5000.0)
        try:
            start.wait(timeout=60)
            results.append(await queue.schedule_due("retention", HOUR))
        finally:
            await database.aclose()

    barrier = threading.Barrier(4)
    threads = [threading.Thread(target=asyncio.run, args=(node(i, barrier),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 4 and len([r for r in results if r is not None]) == 1, results


def test_bad_input_is_refused(run: Run[Any], tmp_path: Any) -> None:
    queue = JobQueue(SqlJobStore(SqliteDatabase(str(tmp_path / "m.db")), skip_locked=False))

    async def main() -> None:
        for call in (
            queue.enqueue(""),
            queue.enqueue("x", max_attempts=0),
            queue.enqueue("x", {"when": object()}),
            queue.enqueue("x", unique_key=""),
        ):
            with pytest.raises(RegistryError) as caught:
                await call
            assert caught.value.status == 400

    run(main())
