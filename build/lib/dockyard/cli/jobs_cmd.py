"""``dockyard jobs``: the job queue per kind (waiting, running and where, dead; the schedule and
the last result), then the dead letters with their last error. ``dockyard jobs retry ID``
puts a dead job back in the queue; ``dockyard jobs probe --seconds N`` queues a job that
only waits (is some worker taking jobs? does another take over when it dies?)."""

from __future__ import annotations

import argparse
import sys
import time

from dockyard.cli.common import add_config_arguments, audit, load, with_registry
from dockyard.jobs.probe import KIND as PROBE_KIND
from dockyard.jobs.probe import probe_seconds
from dockyard.services.jobs.overview import JobRecord, KindSummary, QueueOverview
from dockyard.services.registry import Registry


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "jobs", help="show the job queue (per kind, dead letters); retry a dead job"
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("show", "retry", "probe"),
        default="show",
        help="show (default); retry ID: queue a dead job again; probe: queue a job that "
        "waits --seconds and says which node ran it",
    )
    parser.add_argument("job_id", nargs="?", type=int, metavar="ID", help="job to retry")
    parser.add_argument("--seconds", type=float, default=0.0, help="how long a probe waits")
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "retry" and args.job_id is None:
        print("dockyard jobs retry: which job? (an ID from `dockyard jobs`)", file=sys.stderr)
        return 2
    settings = load(args)
    if settings is None:
        return 1
    if args.action == "retry":
        return with_registry(settings, lambda registry: _retry(registry, args.job_id))
    if args.action == "probe":
        return with_registry(settings, lambda registry: _probe(registry, args.seconds))
    overview = with_registry(settings, _overview)
    for line in describe(overview, time.time()):
        print(line)
    return 0


async def _overview(registry: Registry) -> QueueOverview:
    assert registry.jobs is not None  # built with the registry
    return await registry.jobs.overview()


async def _retry(registry: Registry, job_id: int) -> int:
    """Queue dead job ``job_id`` again (audited as a change made from the CLI)."""
    assert registry.jobs is not None
    job = await registry.jobs.get(job_id)
    if await registry.jobs.retry(job_id):
        kind = job.kind if job is not None else ""
        await audit(registry, "jobs.retry", f"job:{job_id}", {"kind": kind})
        print(f"job {job_id} queued again")
        return 0
    job = await registry.jobs.get(job_id)
    why = "no such job" if job is None else f"it is {job.state}, not dead"
    print(f"dockyard jobs retry: job {job_id}: {why}", file=sys.stderr)
    return 1


async def _probe(registry: Registry, seconds: float) -> int:
    assert registry.jobs is not None
    job_id = await registry.jobs.enqueue(PROBE_KIND, {"seconds": probe_seconds(seconds)})
    print(f"job {job_id} queued (probe, {probe_seconds(seconds):g}s)")
    return 0


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + "Z" if stamp else "never"


def describe(overview: QueueOverview, now: float) -> list[str]:
    lines = [describe_kind(kind, now) for kind in overview.kinds]
    if not lines:
        lines.append("no jobs yet")
    if overview.dead_letters:
        lines.append("dead letters (`dockyard jobs retry ID` queues one again):")
        lines.extend(describe_dead(job) for job in overview.dead_letters)
    return lines


def describe_kind(kind: KindSummary, now: float) -> str:
    parts = [f"waiting {kind.waiting}"]
    if kind.oldest_waiting:
        parts[0] += f" (oldest {max(now - kind.oldest_waiting, 0):.0f}s)"
    running = ", ".join(f"#{job.id} on {job.lease_owner}" for job in kind.running)
    parts.append(f"running {len(kind.running)}" + (f" ({running})" if running else ""))
    parts.append(f"dead {kind.dead}")
    schedule = kind.schedule
    if schedule is not None:
        parts.append(f"every {schedule.interval_seconds:g}s, next {_when(schedule.next_run)}")
    return f"{kind.kind}: {'; '.join(parts)}; {_last(kind.last)}"


def _last(job: JobRecord | None) -> str:
    if job is None:
        return "never finished"
    outcome = "ok" if job.state == "done" else job.state
    text = job.result if job.state == "done" else job.last_error
    return f"last finished {_when(job.finished_at)} on {job.lease_owner} ({outcome}): {text}"


def describe_dead(job: JobRecord) -> str:
    return (
        f"  #{job.id} {job.kind} after {job.attempts} of {job.max_attempts} attempts, "
        f"{_when(job.finished_at)}: {job.last_error} payload={job.payload}"
    )
