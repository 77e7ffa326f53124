"""Leases on scheduled jobs, so that N nodes run each job once per interval between them.

A job (``gc``, ``retention``) is due when its last run finished at least one interval ago (a
failed run is retried sooner). Taking the lease is one statement that re-checks both, so among
nodes that ask at once exactly one runs the job; it renews the lease while it works, and a
node that dies mid-run lets the lease lapse so that another node (or the same after a
restart) takes over. The schedule lives in the database, not in any node's memory, so a
restart neither skips a run nor runs one twice.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.persistence.lifecycle_records import JobRun, JobStore

__all__ = ["JobLeases", "JobRun", "Lease", "node_id"]

LEASE_SECONDS = 120.0
RETRY_SECONDS = 900.0  # a failed run is retried after this, or after its interval if shorter


def node_id() -> str:
    """This process, as it appears in ``job_runs.holder``: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Lease:
    job: str
    holder: str


class JobLeases:
    def __init__(
        self,
        store: JobStore,
        *,
        holder: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.holder = holder or node_id()
        self.lease_seconds = lease_seconds
        self.clock = clock

    async def acquire_if_due(self, job: str, interval_seconds: float) -> Lease | None:
        """The lease when ``job`` is due and no one holds it, else None."""
        now = self.clock()
        retry = min(interval_seconds, RETRY_SECONDS)
        return await self._acquire(job, now, due=now - interval_seconds, retry_due=now - retry)

    async def acquire_now(self, job: str) -> Lease | None:
        """The lease whenever no one holds it (a run asked for by hand)."""
        now = self.clock()
        return await self._acquire(job, now, due=now, retry_due=now)

    async def _acquire(self, job: str, now: float, *, due: float, retry_due: float) -> Lease | None:
        until = now + self.lease_seconds
        taken = await self.store.try_acquire(
            job, self.holder, now=now, until=until, due=due, retry_due=retry_due
        )
        return Lease(job, self.holder) if taken else None

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease; False when it was lost (it lapsed and another node took it)."""
        until = self.clock() + self.lease_seconds
        return await self.store.renew(lease.job, lease.holder, until)

    async def finish(self, lease: Lease, *, ok: bool, summary: str) -> None:
        result = "ok" if ok else "failed"
        await self.store.finish(
            lease.job, lease.holder, now=self.clock(), result=result, summary=summary
        )

    async def jobs(self) -> list[JobRun]:
        return await self.store.jobs()
