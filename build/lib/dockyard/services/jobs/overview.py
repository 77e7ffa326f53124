"""The queue at a glance, for ``dockyard jobs`` and the queue metrics: per kind how many jobs
wait, run (and where) or are dead, the next scheduled runs, how the last run ended, and the
dead letters with their last error."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.persistence.job_records import WAITING, JobRecord, JobStore, ScheduleRecord

__all__ = ["JobRecord", "KindSummary", "QueueOverview", "read_overview"]
DEAD_LISTED = 50


@dataclass(slots=True)
class KindSummary:
    kind: str
    waiting: int = 0  # queued, or failed and waiting for the next attempt
    oldest_waiting: float = 0.0  # creation time of the oldest waiting job (0: none)
    running: list[JobRecord] = field(default_factory=list)
    dead: int = 0
    done: int = 0
    schedule: ScheduleRecord | None = None
    last: JobRecord | None = None  # the most recently finished job


@dataclass(frozen=True, slots=True)
class QueueOverview:
    kinds: list[KindSummary]
    dead_letters: list[JobRecord]  # newest first, at most DEAD_LISTED


async def read_overview(store: JobStore, *, dead_listed: int = DEAD_LISTED) -> QueueOverview:
    kinds: dict[str, KindSummary] = {}

    def summary(kind: str) -> KindSummary:
        return kinds.setdefault(kind, KindSummary(kind))

    for count in await store.counts():
        entry = summary(count.kind)
        if count.state in WAITING:
            entry.waiting += count.count
            if count.oldest_created and (
                not entry.oldest_waiting or count.oldest_created < entry.oldest_waiting
            ):
                entry.oldest_waiting = count.oldest_created
        elif count.state == "dead":
            entry.dead = count.count
        elif count.state == "done":
            entry.done = count.count
    for job in await store.in_state("running", 1000):
        summary(job.kind).running.append(job)
    for schedule in await store.schedules():
        summary(schedule.kind).schedule = schedule
    for job in await store.last_finished():
        summary(job.kind).last = job
    dead = await store.in_state("dead", dead_listed)
    return QueueOverview(sorted(kinds.values(), key=lambda k: k.kind), dead)
