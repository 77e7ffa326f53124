"""One attempt at one job: the handler runs while a keeper renews the lease.

The outcome is recorded in the queue and counted (``registry_job_runs_total{job,result}``):

- ``ok``: the handler returned its summary; the job is done.
- ``failed`` / ``dead``: the handler raised; retried after the backoff, or out of attempts
  (``PermanentJobError``: at once). ``JobFailedError`` and ``RegistryError`` (storage or
  database unavailable, read-only...) are logged as a line, anything else with its traceback.
- ``released``: this process is stopping; the lease is given back and the attempt does not
  count.
- ``lost``: the lease could not be renewed because another node took the job over (this
  node was too slow to renew): the handler is cancelled and the job left to that node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from dockyard.core.errors import RegistryError
from dockyard.services.jobs.model import Handler, Job, JobFailedError, PermanentJobError
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.telemetry import Telemetry

log = logging.getLogger("dockyard.jobs")


class Execution:
    def __init__(
        self, queue: JobQueue, job: Job, handler: Handler | None, telemetry: Telemetry
    ) -> None:
        self.queue = queue
        self.job = job
        self.handler = handler
        self.telemetry = telemetry
        self.lost = False

    async def run(self) -> str:
        job = self.job
        if self.handler is None:
            return await self._failed(PermanentJobError(f"no handler for job kind {job.kind}"))
        work = asyncio.create_task(self.handler(job))
        keeper = asyncio.create_task(self._keep_lease(work))
        try:
            summary = await work
        except asyncio.CancelledError:
            if not self.lost:  # this process is stopping
                await self._release()
                raise
            return self._count("lost")
        except Exception as exc:
            return await self._failed(exc)
        finally:
            keeper.cancel()
        return await self._completed(summary)

    async def _keep_lease(self, work: asyncio.Task[str]) -> None:
        while True:
            await asyncio.sleep(self.queue.lease_seconds / 3)
            try:
                renewed = await self.queue.renew(self.job)
            except Exception as exc:  # the database away: keep working, try again
                log.warning("job %d (%s): could not renew the lease: %s", self.job.id,
                            self.job.kind, exc)  # fmt: skip
                continue
            if not renewed:
                log.warning("job %d (%s): lease lost to another node; stopping it here",
                            self.job.id, self.job.kind)  # fmt: skip
                self.lost = True
                work.cancel()
                return

    async def _completed(self, summary: str) -> str:
        job = self.job
        log.info("%s finished (ok): %s", job.kind, summary,
                 extra={"fields": {"job": job.id, "attempt": job.attempt}})  # fmt: skip
        try:
            await self.queue.complete(job, summary)
        except Exception as exc:
            log.warning("job %d (%s): done, but could not record it: %s", job.id, job.kind, exc)
        self.telemetry.gauge("job_last_success_timestamp_seconds", time.time(), job=job.kind)
        return self._count("ok")

    async def _failed(self, exc: BaseException) -> str:
        job = self.job
        error = exc.message if isinstance(exc, RegistryError) else str(exc) or type(exc).__name__
        if not isinstance(exc, JobFailedError | RegistryError):  # a bug: with its traceback
            log.error("job %d (%s) raised", job.id, job.kind, exc_info=exc)
            error = f"{type(exc).__name__}: {error}"
        try:
            state = await self.queue.fail(job, error, permanent=isinstance(exc, PermanentJobError))
        except Exception as db_exc:
            log.warning("job %d (%s): could not record its failure: %s", job.id, job.kind,
                        db_exc)  # fmt: skip
            state = "failed"
        log.warning("%s finished (%s) on attempt %d of %d: %s", job.kind, state, job.attempt,
                    job.max_attempts, error, extra={"fields": {"job": job.id}})  # fmt: skip
        return self._count(state)

    async def _release(self) -> None:
        with contextlib.suppress(Exception):
            await self.queue.release(self.job)
        log.info("job %d (%s): stopped, lease given back", self.job.id, self.job.kind)
        self._count("released")

    def _count(self, outcome: str) -> str:
        self.telemetry.count("job_runs", job=self.job.kind, result=outcome)
        return outcome
