"""Garbage collection as a job (kind ``gc``; scheduled by ``dockyard.gc.interval``)."""

from __future__ import annotations

from dockyard.services.jobs.model import Handler, Job, JobFailedError
from dockyard.services.lifecycle.gc import GarbageCollector

KIND = "gc"


def gc_handler(gc: GarbageCollector, *, delete_untagged: bool, dry_run: bool) -> Handler:
    """The payload may say ``{"delete_untagged": true}``; else the configuration decides."""

    async def run(job: Job) -> str:
        untagged = bool(job.payload.get("delete_untagged", delete_untagged))
        report = await gc.run(dry_run=dry_run, delete_untagged=untagged, actor="gc (scheduled)")
        if report.stopped_early:
            raise JobFailedError(report.summary())
        return report.summary()

    return run
