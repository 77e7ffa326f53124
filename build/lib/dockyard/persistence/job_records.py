"""Records and the store protocol of the job queue; ``sql/jobs.py`` implements it.

Times are seconds since the epoch; payloads are JSON text (the service encodes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

WAITING = ("queued", "failed")  # states whose jobs run once ``run_after`` has come
PENDING = ("queued", "running", "failed")  # not finished for good


@dataclass(frozen=True, slots=True)
class NewJob:
    kind: str
    payload: str
    run_after: float
    max_attempts: int
    unique_key: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this node now holds the lease on; ``attempts`` counts this attempt."""

    id: int
    kind: str
    payload: str
    attempts: int
    max_attempts: int
    created_at: float


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    state: str
    payload: str
    attempts: int
    max_attempts: int
    run_after: float
    lease_owner: str
    lease_until: float
    last_error: str
    result: str
    unique_key: str | None
    created_at: float
    started_at: float
    finished_at: float


@dataclass(frozen=True, slots=True)
class KindCount:
    """How many jobs of ``kind`` are in ``state``, and when the oldest of them was created."""

    kind: str
    state: str
    count: int
    oldest_created: float


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    kind: str
    interval_seconds: float
    next_run: float


class JobStore(Protocol):
    async def insert(self, job: NewJob) -> int | None:
        """The new job's id; None when a job with its ``unique_key`` exists."""
        ...

    async def insert_running(self, job: NewJob, owner: str, lease_until: float) -> int:
        """A job run at once by ``owner`` (a run asked for by hand), leased and counted."""
        ...

    async def claim(
        self, kinds: tuple[str, ...], owner: str, *, now: float, lease_until: float
    ) -> ClaimedJob | None:
        """Lease the next due job of one of ``kinds`` (a waiting job whose time has come, or
        a running one whose lease lapsed with attempts left); None when there is none."""
        ...

    async def bury_lapsed(self, now: float) -> int:
        """Dead-letter running jobs whose lease lapsed on their last attempt; how many."""
        ...

    async def renew(self, job_id: int, owner: str, lease_until: float) -> bool: ...
    async def complete(self, job_id: int, owner: str, *, now: float, result: str) -> bool: ...
    async def fail(
        self, job_id: int, owner: str, *, now: float, state: str, run_after: float, error: str
    ) -> bool: ...
    async def release(self, job_id: int, owner: str, *, now: float) -> bool: ...
    async def revive(self, job_id: int, *, now: float) -> bool:
        """Put a dead job back in the queue with its attempts reset; False unless dead."""
        ...

    async def prune_done(self, finished_before: float, limit: int) -> int: ...
    async def claim_schedule(self, kind: str, interval_seconds: float, job: NewJob) -> int | None:
        """When ``kind``'s schedule is due at ``job.created_at``: move it on one interval
        and enqueue ``job`` unless a job of that kind is still pending. The new job's id, or
        None (not due, taken by another node, or one pending)."""
        ...

    async def get(self, job_id: int) -> JobRecord | None: ...
    async def counts(self) -> list[KindCount]: ...
    async def in_state(self, state: str, limit: int) -> list[JobRecord]: ...
    async def last_finished(self) -> list[JobRecord]:
        """Per kind, the job that finished (done, failed or dead) most recently."""
        ...

    async def schedules(self) -> list[ScheduleRecord]: ...
