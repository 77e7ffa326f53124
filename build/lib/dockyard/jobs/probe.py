"""Kind ``probe``: a job that only waits, then says which node ran it.

``dockyard jobs probe [--seconds N]`` enqueues one, to check that some worker takes jobs and
(with N long enough to stop a worker in the middle) that another takes over a job whose node
died. The wait is capped at an hour.
"""

from __future__ import annotations

import asyncio
import math

from dockyard.services.jobs.model import Handler, Job

KIND = "probe"
MAX_SECONDS = 3600.0


def probe_seconds(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return min(max(seconds, 0.0), MAX_SECONDS) if math.isfinite(seconds) else 0.0


def probe_handler(owner: str) -> Handler:
    async def run(job: Job) -> str:
        seconds = probe_seconds(job.payload.get("seconds", 0))
        await asyncio.sleep(seconds)
        return f"probe waited {seconds:g}s on {owner} (attempt {job.attempt})"

    return run
