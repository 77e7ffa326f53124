"""What job handlers see, and how long a failed job waits before its next attempt."""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt at a job, as its handler gets it. ``attempt`` counts from 1."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    created_at: float

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


# A handler does the work and returns a one-line summary (kept as the job's result); raising
# fails the attempt (retried after a backoff, dead-lettered after the last attempt).
Handler = Callable[[Job], Coroutine[Any, Any, str]]


class JobFailedError(Exception):
    """Raised by a handler: the attempt failed for a reason worth retrying (the message is
    recorded as the job's last error, without a traceback in the log)."""


class PermanentJobError(JobFailedError):
    """Raised by a handler: retrying cannot help; the job goes to the dead letters now."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits ``base * 2**(n-1)`` seconds, at most
    ``cap``, times a random factor in [0.5, 1) so that jobs failing together spread out."""

    base: float = 10.0
    cap: float = 3600.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        exponent = min(max(attempt - 1, 0), 60)
        return min(self.cap, self.base * 2.0**exponent) * self.rng.uniform(0.5, 1.0)


class BackgroundWork(Protocol):
    """What adapters start and stop (``dockyard.jobs.runner.JobRunner`` implements it)."""

    async def start(self, *, queue_work: bool = True) -> None:
        """The process-local loops, and the queue's jobs and schedules unless told not to."""
        ...

    async def stop(self) -> None: ...

    async def run_here(self, kind: str, handler: Handler, payload: dict[str, Any]) -> str:
        """Run ``handler`` now, in this process, recorded as a job of ``kind``."""
        ...
