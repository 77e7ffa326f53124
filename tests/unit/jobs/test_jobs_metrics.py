"""The queue gauges: per kind what waits (and since when), runs and is dead; kinds that
emptied go back to zero."""

from __future__ import annotations

from typing import Any

from dockyard.jobs.metrics import publish_queue_metrics
from unit.jobs.conftest import Backend, Clock, Recorded, Run


def test_gauges_follow_the_queue(run: Run[Any], backend: Backend, clock: Clock) -> None:
    telemetry = Recorded()
    seen: set[str] = set()

    async def main() -> None:
        node = await backend.node("a", clock)
        await node.enqueue("deliver")
        clock.now += 30
        await node.enqueue("deliver")
        await node.enqueue("purge", max_attempts=1)
        await node.enqueue("gc")
        running = await node.claim(["gc"])
        dead = await node.claim(["purge"])
        assert running is not None and dead is not None
        await node.fail(dead, "storage away")
        clock.now += 10
        await publish_queue_metrics(node, telemetry, seen)
        gauges = telemetry.gauges
        assert gauges[("job_queue_depth", "deliver")] == 2
        assert gauges[("job_running", "gc")] == 1
        assert gauges[("job_dead_letters", "purge")] == 1
        assert gauges[("job_queue_depth", "purge")] == 0
        assert gauges[("job_queue_oldest_seconds", "deliver")] == 40

        for _ in range(2):
            job = await node.claim(["deliver"])
            assert job is not None
            await node.complete(job, "ok")
        await publish_queue_metrics(node, telemetry, seen)
        assert telemetry.gauges[("job_queue_depth", "deliver")] == 0

    run(main())
