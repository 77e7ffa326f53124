"""Kind ``mirror.warm``: pre-fill the pull-through cache (``services/upstream/warm.py``).

The payload is ``{"references": ["hub/library/alpine:3.20", ...]}``; the job's result is the
summary of what was warmed.
"""

from __future__ import annotations

from dockyard.services.jobs.model import Handler, Job
from dockyard.services.upstream.warm import KIND, CacheWarmer

__all__ = ["KIND", "warm_handler"]


def warm_handler(warmer: CacheWarmer) -> Handler:
    async def run(job: Job) -> str:
        references = job.payload.get("references")
        if not isinstance(references, list):
            return "nothing to warm: the payload has no references"
        return await warmer.warm([str(reference) for reference in references])

    return run
