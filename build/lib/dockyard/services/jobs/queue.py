"""The durable job queue every node shares (``jobs`` in the metadata database).

Anyone may :meth:`JobQueue.enqueue` work; a runner (``dockyard.jobs.runner``) takes it with
:meth:`JobQueue.claim`, which leases the job to this process (``owner``) for
``lease_seconds``, renews the lease while the handler works, and ends the attempt with
:meth:`complete`, :meth:`fail` (retried after a jittered exponential backoff; dead-lettered
after ``max_attempts``) or :meth:`release` (stopping: the job goes back as it was). A node
that dies mid-job stops renewing; once the lease lapses another node claims the job again
(the attempt counts). Dead jobs wait for :meth:`retry` (``dockyard jobs retry ID``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.job_records import ClaimedJob, JobRecord, JobStore, NewJob
from dockyard.services.jobs.model import DEFAULT_MAX_ATTEMPTS, Backoff, Job
from dockyard.services.jobs.overview import QueueOverview, read_overview

log = logging.getLogger("dockyard.jobs")
LEASE_SECONDS = 60.0
KIND_MAX = 100
UNIQUE_KEY_MAX = 500
PRUNE_BATCH = 1000


def node_id() -> str:
    """This process as a lease owner: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _invalid(message: str) -> RegistryError:
    return RegistryError(ErrorCode.UNSUPPORTED, message, status=400)


def _checked(kind: str, unique_key: str | None, max_attempts: int) -> None:
    if not kind or len(kind) > KIND_MAX or not kind.isprintable():
        raise _invalid(f"job kind must be 1 to {KIND_MAX} printable characters")
    if unique_key is not None and not 0 < len(unique_key) <= UNIQUE_KEY_MAX:
        raise _invalid(f"job unique key must be 1 to {UNIQUE_KEY_MAX} characters")
    if max_attempts < 1:
        raise _invalid("a job needs at least one attempt")


class JobQueue:
    def __init__(
        self,
        store: JobStore,
        *,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.owner = owner or node_id()
        self.lease_seconds = lease_seconds
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.enqueued = asyncio.Event()  # set by enqueue: a runner in this process looks now

    # the public API ---------------------------------------------------------------------

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        run_after: float | None = None,
        unique_key: str | None = None,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> int | None:
        """Queue a job of ``kind`` (``payload``: JSON-encodable) to run at ``run_after``
        (seconds since the epoch; default now). Returns its id, or None when a job with
        ``unique_key`` already exists (until that one is pruned, some time after it is done)."""
        _checked(kind, unique_key, max_attempts)
        job_id = await self.store.insert(self._new(kind, payload, run_after, unique_key,
                                                   max_attempts))  # fmt: skip
        if job_id is not None:
            self.enqueued.set()
        return job_id

    async def schedule_due(
        self, kind: str, interval_seconds: float, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
    ) -> int | None:
        """Enqueue ``kind``'s periodic run when its schedule is due (among all nodes, the
        first to ask wins), unless one is still pending; the job's id or None."""
        now = self.clock()
        key = f"schedule:{kind}:{now:.3f}"
        job = self._new(kind, None, now, key, max_attempts)
        job_id = await self.store.claim_schedule(kind, interval_seconds, job)
        if job_id is not None:
            self.enqueued.set()
        return job_id

    async def retry(self, job_id: int) -> bool:
        """Put dead job ``job_id`` back in the queue with fresh attempts; False if not dead."""
        return await self.store.revive(job_id, now=self.clock())

    async def get(self, job_id: int) -> JobRecord | None:
        return await self.store.get(job_id)

    async def overview(self) -> QueueOverview:
        """Per kind: waiting, running (by whom), dead; schedules; last results; dead letters."""
        return await read_overview(self.store)

    # what a runner does -----------------------------------------------------------------

    async def claim(self, kinds: Sequence[str]) -> Job | None:
        now = self.clock()
        claimed = await self.store.claim(
            tuple(kinds), self.owner, now=now, lease_until=now + self.lease_seconds
        )
        return None if claimed is None else _job(claimed)

    async def start_here(self, kind: str, payload: Mapping[str, Any] | None = None) -> Job:
        """A job this process runs at once, outside the queue's order (a run asked for on the
        command line), recorded and leased like any other; one attempt only."""
        _checked(kind, None, 1)
        job = self._new(kind, payload, self.clock(), None, 1)
        lease_until = job.created_at + self.lease_seconds
        job_id = await self.store.insert_running(job, self.owner, lease_until)
        return Job(job_id, kind, dict(payload or {}), 1, 1, job.created_at)

    async def bury_lapsed(self) -> int:
        return await self.store.bury_lapsed(self.clock())

    async def renew(self, job: Job) -> bool:
        """Extend the lease; False when it was lost (it lapsed and another node took it)."""
        until = self.clock() + self.lease_seconds
        return await self.store.renew(job.id, self.owner, until)

    async def complete(self, job: Job, result: str) -> bool:
        return await self.store.complete(job.id, self.owner, now=self.clock(), result=result)

    async def fail(self, job: Job, error: str, *, permanent: bool = False) -> str:
        """End a failed attempt: ``failed`` (retried after the backoff) or ``dead``."""
        now = self.clock()
        dead = permanent or job.last_attempt
        state = "dead" if dead else "failed"
        run_after = now if dead else now + self.backoff.delay(job.attempt)
        await self.store.fail(
            job.id, self.owner, now=now, state=state, run_after=run_after, error=error
        )
        return state

    async def release(self, job: Job) -> bool:
        """Give the job back untouched (this process is stopping): it runs again at once,
        here or elsewhere, and this attempt does not count."""
        return await self.store.release(job.id, self.owner, now=self.clock())

    async def prune(self, keep_seconds: float) -> int:
        """Delete done jobs finished more than ``keep_seconds`` ago; how many went."""
        before, total = self.clock() - keep_seconds, 0
        while (deleted := await self.store.prune_done(before, PRUNE_BATCH)) > 0:
            total += deleted
            if deleted < PRUNE_BATCH:
                break
        return total

    def _new(
        self,
        kind: str,
        payload: Mapping[str, Any] | None,
        run_after: float | None,
        unique_key: str | None,
        max_attempts: int,
    ) -> NewJob:
        now = self.clock()
        try:
            text = msgspec.json.encode(dict(payload or {})).decode()
        except (TypeError, msgspec.EncodeError) as exc:
            raise _invalid(f"job payload is not JSON: {exc}") from None
        when = now if run_after is None else run_after
        return NewJob(kind, text, when, max_attempts, unique_key, now)


def _job(claimed: ClaimedJob) -> Job:
    try:
        payload = msgspec.json.decode(claimed.payload)
    except msgspec.DecodeError:
        payload = None
    if not isinstance(payload, dict):
        log.warning("job %d (%s): payload is not a JSON object", claimed.id, claimed.kind)
        payload = {}
    return Job(claimed.id, claimed.kind, payload, claimed.attempts, claimed.max_attempts,
               claimed.created_at)  # fmt: skip
