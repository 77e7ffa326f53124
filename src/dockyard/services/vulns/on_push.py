"""Scans on push: every pushed image or index becomes a job of the queue (``vulns.scan``).

:class:`ScanOnPush` reads ``manifest.pushed`` events from the outbox with its own position
(consumer ``vuln-scan-on-push``) and queues one job per pushed manifest, unique per
repository and digest; the job runs :meth:`VulnService.scan`, which judges each platform of
an index on its own and does nothing for artifacts (SBOMs, signatures). The push is never
slowed, and a node killed mid-job loses nothing (the lease lapses, another node runs it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dockyard.core.errors import RegistryError
from dockyard.services.jobs.model import Handler, Job, PermanentJobError
from dockyard.services.supplychain.on_push import PushedManifestJobs

KIND = "vulns.scan"
CONSUMER = "vuln-scan-on-push"


class ScanOnPush(PushedManifestJobs):
    consumer, kind, key_prefix = CONSUMER, KIND, "scan"


def scan_handler(scan: Callable[[str, str], Awaitable[Sequence[Any]]]) -> Handler:
    async def run(job: Job) -> str:
        repository, digest = str(job.payload["repository"]), str(job.payload["digest"])
        try:
            judged = await scan(repository, digest)
        except RegistryError as exc:  # deleted since the push: no retry helps
            raise PermanentJobError(f"{repository}@{digest}: {exc}") from None
        return f"{repository}@{digest}: {len(judged)} image(s) judged"

    return run
