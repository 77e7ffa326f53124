"""Audit log retention (``dockyard.identity.auditretention``): events older than that go.

Every ``interval_seconds`` (an hour; a job of kind ``audit.retention`` on the job queue, so
one node runs each round) the oldest events recorded before ``now - retention``
are deleted in batches of ``BATCH``, each its own short statement, so a large backlog never
holds a long transaction. A failed round (database away) is retried as any job is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.persistence.stores import AuditStore

log = logging.getLogger("dockyard.audit")
BATCH = 1000
INTERVAL_SECONDS = 3600.0


@dataclass
class AuditPruner:
    store: AuditStore
    retention_seconds: float
    interval_seconds: float = INTERVAL_SECONDS
    clock: Callable[[], float] = field(default=time.time)

    async def prune_once(self) -> int:
        """Delete every event older than the retention; how many went."""
        before = self.clock() - self.retention_seconds
        total = 0
        while True:
            deleted = await self.store.prune(before, BATCH)
            total += deleted
            if deleted < BATCH:
                return total
