"""The one runner of background work in a process: queued jobs, schedules, local loops.

Bootstrap registers a handler per job kind (:meth:`JobRunner.handle`), a periodic schedule
for some kinds (:meth:`JobRunner.every`), and the loops whose state lives in this process's
memory (:meth:`JobRunner.local`: the audit and pull-time buffers, health probes, the
htpasswd watch, per-process gauges), which cannot be jobs another node could take over.

:meth:`start` starts the local loops and, unless told not to (``dockyard.jobs.runinserve``),
the queue loop: it enqueues each due schedule (once among all nodes), then takes due jobs of
the registered kinds, at most ``concurrency`` at a time, each in its own task that renews
the lease while the handler works. :meth:`stop` stops taking work, lets running jobs finish
for ``stop_seconds``, then cancels them and gives their leases back; meanwhile it stops the
local loops (which write what they buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from dockyard.jobs.execution import Execution
from dockyard.services.jobs.model import DEFAULT_MAX_ATTEMPTS, Handler, Job
from dockyard.services.jobs.queue import JobQueue
from dockyard.services.telemetry import NO_TELEMETRY, Telemetry

log = logging.getLogger("dockyard.jobs")
Loop = Callable[[], Coroutine[Any, Any, None]]
HOUSEKEEPING_SECONDS = 30.0
PRUNE_SECONDS = 600.0
MIN_SCHEDULE_POLL = 1.0
MAX_SCHEDULE_POLL = 30.0


@dataclass(frozen=True, slots=True)
class JobKind:
    name: str
    handler: Handler
    max_attempts: int = DEFAULT_MAX_ATTEMPTS  # of scheduled runs
    pausable: bool = False  # waits while the registry is read-only (gc, retention, purge)


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    concurrency: int = 4
    poll_seconds: float = 1.0
    stop_seconds: float = 3.0  # on stop, running jobs get this long before they are released
    keep_done_seconds: float = 86400.0


async def _never_paused() -> bool:
    return False


class JobRunner:
    def __init__(
        self,
        queue: JobQueue,
        options: RunnerOptions | None = None,
        *,
        paused: Callable[[], Awaitable[bool]] = _never_paused,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.queue = queue
        self.options = options or RunnerOptions()
        self.paused = paused
        self.telemetry = telemetry
        self.kinds: dict[str, JobKind] = {}
        self.schedules: dict[str, float] = {}  # kind -> interval in seconds
        self.locals: dict[str, Loop] = {}
        self.work_loops: dict[str, Loop] = {}
        self._next_check: dict[str, float] = {}
        self._running: set[asyncio.Task[str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._housekept = 0.0
        self._pruned = 0.0
        self._wake = asyncio.Event()

    # registration (bootstrap) -----------------------------------------------------------

    def handle(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        pausable: bool = False,
    ) -> None:
        """Run jobs of ``kind`` with ``handler`` (one kind, one handler). ``max_attempts`` is
        for the runs the kind's schedule enqueues; whoever enqueues a job chooses its own."""
        if kind in self.kinds:
            raise ValueError(f"job kind {kind} already has a handler")
        self.kinds[kind] = JobKind(kind, handler, max_attempts, pausable)

    def every(self, kind: str, interval_seconds: float) -> None:
        """Enqueue a job of ``kind`` (registered with :meth:`handle`) every interval."""
        if kind not in self.kinds:
            raise ValueError(f"job kind {kind} has no handler")
        if interval_seconds <= 0:
            raise ValueError("a schedule needs a positive interval")
        self.schedules[kind] = interval_seconds

    def local(self, name: str, loop: Loop) -> None:
        """A loop of this process only (its state is in memory), started and stopped here."""
        self.locals[name] = loop

    def work_loop(self, name: str, loop: Loop) -> None:
        """A loop that is background work of its own (safe on any number of nodes by
        itself, e.g. event delivery's leased rows): it runs where queued jobs run, so
        ``runinserve: false`` keeps it on ``dockyard worker`` processes."""
        self.work_loops[name] = loop

    # running ----------------------------------------------------------------------------

    async def start(self, *, queue_work: bool = True) -> None:
        """Start the local loops, and the queue loop unless ``queue_work`` is False."""
        for name, loop in self.locals.items():
            self._tasks.append(asyncio.create_task(loop(), name=f"dockyard-{name}"))
        if queue_work:
            for name, loop in self.work_loops.items():
                self._tasks.append(asyncio.create_task(loop(), name=f"dockyard-{name}"))
        if queue_work and self.kinds:
            log.info(
                "taking jobs: %s; schedules: %s", ", ".join(sorted(self.kinds)),
                ", ".join(f"{k} every {s:g}s" for k, s in sorted(self.schedules.items())) or "none",
            )  # fmt: skip
            self._tasks.insert(0, asyncio.create_task(self._work(), name="dockyard-jobs"))

    async def stop(self) -> None:
        """Stop taking work; let running jobs finish (or release them) while the local loops
        stop (writing what they buffer), both at once."""
        tasks, self._tasks = self._tasks, []
        if tasks and tasks[0].get_name() == "dockyard-jobs":
            await _cancel(tasks.pop(0))
        await asyncio.gather(self._drain(), *(_cancel(task) for task in tasks))

    async def _drain(self) -> None:
        if not self._running:
            return
        log.info("waiting up to %gs for %d running jobs", self.options.stop_seconds,
                 len(self._running))  # fmt: skip
        _, pending = await asyncio.wait(set(self._running), timeout=self.options.stop_seconds)
        for task in pending:
            await _cancel(task)  # the job's lease is given back (Execution.run)

    async def run_due(self) -> int:
        """One round, waited for: enqueue due schedules, then run due jobs until none is left
        (at most ``concurrency`` at a time); how many ran. For tests and one-off calls."""
        ran = 0
        await self._tick_schedules()
        while batch := await self._claim_batch():
            ran += len(batch)
            await asyncio.gather(*(self.execute(job) for job in batch))
        return ran

    async def execute(self, job: Job, handler: Handler | None = None) -> str:
        """Run one claimed job to its end; the outcome: ok, failed, dead, released or lost."""
        kind = self.kinds.get(job.kind)
        chosen = handler or (kind.handler if kind is not None else None)
        return await Execution(self.queue, job, chosen, self.telemetry).run()

    async def run_here(self, kind: str, handler: Handler, payload: dict[str, Any]) -> str:
        """Run ``handler`` now in this process as a recorded job of ``kind`` (a run asked for
        on the command line); the outcome as :meth:`execute` gives it."""
        return await self.execute(await self.queue.start_here(kind, payload), handler)

    # the queue loop ---------------------------------------------------------------------

    async def _work(self) -> None:
        failures = 0
        while True:
            try:
                await self._housekeeping()
                await self._tick_schedules()
                await self._fill()
                failures = 0
            except Exception as exc:  # the database away, say: try again after a pause
                failures += 1
                if failures == 1 or failures % 60 == 0:  # not a line a second while it lasts
                    log.warning("job queue round failed (%d in a row): %s", failures, exc)
            await self._sleep()

    async def _fill(self) -> None:
        free = self.options.concurrency - len(self._running)
        if free <= 0:
            return
        kinds = await self._takeable()
        while free > 0 and (job := await self.queue.claim(kinds)) is not None:
            task = asyncio.create_task(self.execute(job), name=f"dockyard-job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._finished)
            free -= 1

    async def _claim_batch(self) -> list[Job]:
        kinds = await self._takeable()
        batch: list[Job] = []
        while len(batch) < self.options.concurrency and (job := await self.queue.claim(kinds)):
            batch.append(job)
        return batch

    def _finished(self, task: asyncio.Task[str]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _takeable(self) -> list[str]:
        if not any(kind.pausable for kind in self.kinds.values()) or not await self.paused():
            return list(self.kinds)
        return [name for name, kind in self.kinds.items() if not kind.pausable]

    async def _sleep(self) -> None:
        enqueued = asyncio.ensure_future(self.queue.enqueued.wait())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({enqueued, woken}, timeout=self.options.poll_seconds,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            enqueued.cancel()
            woken.cancel()
        self.queue.enqueued.clear()
        self._wake.clear()

    async def _tick_schedules(self) -> None:
        now = time.monotonic()
        paused: bool | None = None
        for kind, interval in self.schedules.items():
            if now < self._next_check.get(kind, 0.0):
                continue
            self._next_check[kind] = now + min(
                max(interval / 4, MIN_SCHEDULE_POLL), MAX_SCHEDULE_POLL
            )
            spec = self.kinds[kind]
            if spec.pausable:
                paused = await self.paused() if paused is None else paused
                if paused:
                    continue
            await self.queue.schedule_due(kind, interval, max_attempts=spec.max_attempts)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._housekept:
            return
        self._housekept = now + HOUSEKEEPING_SECONDS
        buried = await self.queue.bury_lapsed()
        if buried:
            log.warning("%d jobs whose lease lapsed on their last attempt are now dead", buried)
        if now >= self._pruned:
            self._pruned = now + PRUNE_SECONDS
            await self.queue.prune(self.options.keep_done_seconds)


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
