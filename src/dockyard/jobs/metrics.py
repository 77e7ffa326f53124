"""The queue gauges, refreshed by a loop in each process that serves metrics: per kind the
jobs waiting (``registry_job_queue_depth``), the age of the oldest waiting one
(``registry_job_queue_oldest_seconds``), those running and the dead letters. The queue is
shared, so every node reports the same values."""

from __future__ import annotations

import logging

from dockyard.services.jobs.queue import JobQueue
from dockyard.services.telemetry import Telemetry, refresh_forever

log = logging.getLogger("dockyard.jobs")
INTERVAL_SECONDS = 15.0


async def publish_queue_metrics(queue: JobQueue, telemetry: Telemetry, seen: set[str]) -> None:
    """Set every gauge once; kinds seen before and gone now go to zero (added to ``seen``)."""
    overview = await queue.overview()
    now = queue.clock()
    reported = set()
    for kind in overview.kinds:
        reported.add(kind.kind)
        age = now - kind.oldest_waiting if kind.oldest_waiting else 0.0
        values = (kind.waiting, max(age, 0.0), len(kind.running), kind.dead)
        _set(telemetry, kind.kind, values)
    for gone in seen - reported:
        _set(telemetry, gone, (0, 0.0, 0, 0))
    seen |= reported


GAUGES = ("job_queue_depth", "job_queue_oldest_seconds", "job_running", "job_dead_letters")


def _set(telemetry: Telemetry, kind: str, values: tuple[float, ...]) -> None:
    for name, value in zip(GAUGES, values, strict=True):
        telemetry.gauge(name, value, kind=kind)


async def publish_queue_metrics_forever(
    queue: JobQueue, telemetry: Telemetry, interval_seconds: float = INTERVAL_SECONDS
) -> None:
    seen: set[str] = set()
    await refresh_forever(
        lambda: publish_queue_metrics(queue, telemetry, seen), "job queue metrics", log,
        interval_seconds,
    )  # fmt: skip
