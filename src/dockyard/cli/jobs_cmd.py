"""``dockyard jobs``: the scheduled jobs, who runs them, and how their last run went."""

from __future__ import annotations

import argparse
import time

from dockyard.cli.common import add_config_arguments, load, with_registry
from dockyard.services.registry import Registry
from dockyard.services.schedule import JobRun


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("jobs", help="show scheduled jobs (gc, retention) and last runs")
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if settings is None:
        return 1

    async def jobs(registry: Registry) -> list[JobRun]:
        return await registry.lifecycle.leases.jobs()

    now = time.time()
    for job in with_registry(settings, jobs):
        print(describe(job, now))
    return 0


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + "Z" if stamp else "never"


def describe(job: JobRun, now: float) -> str:
    state = f"running on {job.holder}" if job.lease_until > now else "idle"
    last = f"last finished {_when(job.last_finished)} ({job.last_result or 'never ran'})"
    summary = f": {job.last_summary}" if job.last_summary else ""
    return f"{job.name}: {state}; {last}{summary}"
