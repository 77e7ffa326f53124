"""Retention as a job (kind ``retention``; scheduled by ``dockyard.retention.interval``)."""

from __future__ import annotations

from dockyard.services.jobs.model import Handler, Job
from dockyard.services.lifecycle.retention import RetentionService

KIND = "retention"


def retention_handler(retention: RetentionService) -> Handler:
    async def run(job: Job) -> str:
        report = await retention.run(actor="retention (scheduled)")
        return report.summary()

    return run
