"""Garbage collection as a scheduled job (``dockyard.gc.interval``)."""

from __future__ import annotations

from dockyard.jobs.scheduler import JobResult, ScheduledJob
from dockyard.services.gc import GarbageCollector


def gc_job(
    gc: GarbageCollector, interval_seconds: float, *, delete_untagged: bool, dry_run: bool
) -> ScheduledJob:
    async def run() -> JobResult:
        report = await gc.run(
            dry_run=dry_run, delete_untagged=delete_untagged, actor="gc (scheduled)"
        )
        return JobResult(not report.stopped_early, report.summary())

    return ScheduledJob("gc", interval_seconds, run)
