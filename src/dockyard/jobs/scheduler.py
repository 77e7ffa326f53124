"""Run jobs periodically, one node at a time, with their lease renewed while they work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.services.schedule import JobLeases, Lease
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("dockyard.jobs")
MIN_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class JobResult:
    ok: bool
    summary: str


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[JobResult]]

    @property
    def poll_seconds(self) -> float:
        """How often a node asks whether the job is due."""
        return min(max(self.interval_seconds / 4, MIN_POLL_SECONDS), MAX_POLL_SECONDS)


async def _never_paused() -> bool:
    return False


class Scheduler:
    def __init__(
        self,
        leases: JobLeases,
        paused: Callable[[], Awaitable[bool]] = _never_paused,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.leases = leases
        self.paused = paused  # e.g. read-only maintenance: nothing runs, nothing is recorded
        self.telemetry = telemetry

    async def run_forever(self, job: ScheduledJob) -> None:
        log.info("scheduled %s every %.0f s", job.name, job.interval_seconds)
        while True:
            try:
                await self.run_if_due(job)
            except Exception:
                log.exception("scheduled %s: could not check or record the run", job.name)
            await asyncio.sleep(job.poll_seconds)

    async def run_if_due(self, job: ScheduledJob) -> JobResult | None:
        """Run ``job`` if it is due and no other node is running it; None when skipped."""
        if await self.paused():
            return None
        lease = await self.leases.acquire_if_due(job.name, job.interval_seconds)
        return None if lease is None else await self._run(job, lease)

    async def run_now(self, job: ScheduledJob) -> JobResult | None:
        """Run ``job`` now unless another node is running it (None then)."""
        lease = await self.leases.acquire_now(job.name)
        return None if lease is None else await self._run(job, lease)

    async def _run(self, job: ScheduledJob, lease: Lease) -> JobResult:
        heartbeat = asyncio.create_task(self._heartbeat(lease))
        result = JobResult(False, "interrupted")
        try:
            result = await job.run()
        except Exception as exc:
            log.exception("%s failed", job.name)
            result = JobResult(False, f"failed: {exc}")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await heartbeat
            await self.leases.finish(lease, ok=result.ok, summary=result.summary)
        outcome = "ok" if result.ok else "failed"
        log.info("%s finished (%s): %s", job.name, outcome, result.summary)
        self.telemetry.count("job_runs", job=job.name, result=outcome)
        if result.ok:
            self.telemetry.gauge("job_last_success_timestamp_seconds", time.time(), job=job.name)
        return result

    async def _heartbeat(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self.leases.lease_seconds / 3)
            try:
                if not await self.leases.renew(lease):
                    log.warning("%s: lease lost to another node; finishing anyway", lease.job)
            except Exception as exc:
                log.warning("%s: could not renew the lease: %s", lease.job, exc)
