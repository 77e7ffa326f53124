"""``dockyard.jobs``: the job queue's runner in this process (see docs/jobs.md).

``runinserve``: whether ``dockyard serve`` also runs queued and scheduled jobs (default yes;
big installations turn it off on request nodes and run ``dockyard worker`` elsewhere; the
per-process loops, such as the audit and pull-time buffers, always run where requests are
served). ``concurrency``: jobs run at once by one process. ``lease``: how long a job stays
with a node that stopped renewing (renewed every third of it). ``backoff`` and
``maxbackoff``: the wait before attempt n is ``backoff * 2**(n-1)`` (at most ``maxbackoff``),
jittered. ``maxattempts``: attempts of dockyard's own jobs before they are dead letters.
``keepdone``: how long finished jobs are kept. ``stoptimeout``: how long a stopping process
lets running jobs finish before giving them back.
"""

from __future__ import annotations

import msgspec

from dockyard.config.duration import parse_duration


class JobSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    runinserve: bool = True
    concurrency: int = 4
    poll: str = "1s"
    lease: str = "60s"
    backoff: str = "10s"
    maxbackoff: str = "1h"
    maxattempts: int = 3
    keepdone: str = "24h"
    stoptimeout: str = "3s"

    @property
    def poll_seconds(self) -> float:
        return max(parse_duration(self.poll), 0.05)

    @property
    def lease_seconds(self) -> float:
        return max(parse_duration(self.lease), 1.0)

    @property
    def backoff_seconds(self) -> float:
        return max(parse_duration(self.backoff), 0.0)

    @property
    def maxbackoff_seconds(self) -> float:
        return max(parse_duration(self.maxbackoff), 0.0)

    @property
    def keepdone_seconds(self) -> float:
        return max(parse_duration(self.keepdone), 0.0)

    @property
    def stoptimeout_seconds(self) -> float:
        return max(parse_duration(self.stoptimeout), 0.0)
