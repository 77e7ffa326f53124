"""Retention as a scheduled job (``dockyard.retention.interval``)."""

from __future__ import annotations

from dockyard.jobs.scheduler import JobResult, ScheduledJob
from dockyard.services.retention import RetentionService


def retention_job(retention: RetentionService, interval_seconds: float) -> ScheduledJob:
    async def run() -> JobResult:
        report = await retention.run(actor="retention (scheduled)")
        return JobResult(True, report.summary())

    return ScheduledJob("retention", interval_seconds, run)
