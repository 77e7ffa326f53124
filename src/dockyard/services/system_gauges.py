"""Gauges about the node's surroundings, for the shipped alert rules (deploy/prometheus/):
room left on the storage's filesystem, the upload sessions left open, and the backend checks.

Refreshed by a loop in each process that serves metrics (as the job queue gauges are):

- ``registry_storage_free_bytes`` / ``registry_storage_size_bytes``: the filesystem holding
  the storage root, as ``statvfs`` sees it for an unprivileged writer (filesystem driver only;
  an object store has no such figure and the two gauges stay 0).
- ``registry_uploads_open`` and ``registry_uploads_oldest_seconds``: upload sessions in the
  metadata database (all nodes) and the age of the oldest (0: none).
- ``registry_health_check_failing{check}``: 1 while a ``health.storagedriver`` check
  (``storage``, ``database``) has failed ``threshold`` times in a row, else 0; absent when
  the checks are off.
- ``registry_backup_last_success_timestamp_seconds``: when the newest complete ``dockyard
  backup`` of this registry finished (0 until one has).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.persistence.stores import UploadStore
from dockyard.services.system.health import HealthMonitor
from dockyard.services.telemetry import Telemetry, refresh_forever
from dockyard.storage.driver import StorageDriver

log = logging.getLogger("dockyard.metrics")
INTERVAL_SECONDS = 15.0
ROOT_PROBE = "docker"  # a path below the storage root (registry:2 layout); need not exist


@dataclass(frozen=True)
class SystemGauges:
    """What the gauges are read from; :meth:`publish` sets them all once."""

    storage: StorageDriver
    uploads: UploadStore
    health: HealthMonitor | None
    telemetry: Telemetry
    clock: Callable[[], float] = time.time
    last_backup: Callable[[], Awaitable[float | None]] | None = None

    async def publish(self) -> None:
        await self._storage_room()
        count, oldest = await self.uploads.summary()
        self.telemetry.gauge("uploads_open", count)
        age = self.clock() - oldest if oldest is not None else 0.0
        self.telemetry.gauge("uploads_oldest_seconds", max(age, 0.0))
        finished = await self.last_backup() if self.last_backup is not None else None
        if finished is not None:
            self.telemetry.gauge("backup_last_success_timestamp_seconds", finished)
        if self.health is not None:
            failing = self.health.problems()
            for check in self.health.probes:
                self.telemetry.gauge("health_check_failing", float(check in failing), check=check)

    async def _storage_room(self) -> None:
        root = self.storage.local_path(ROOT_PROBE)
        if root is None:  # an object store: no filesystem to measure
            return
        room = await asyncio.to_thread(_statvfs, root)
        if room is not None:
            self.telemetry.gauge("storage_free_bytes", room[0])
            self.telemetry.gauge("storage_size_bytes", room[1])

    async def run_forever(self, interval_seconds: float = INTERVAL_SECONDS) -> None:
        await refresh_forever(self.publish, "system metrics", log, interval_seconds)


def _statvfs(path: str) -> tuple[int, int] | None:
    """Bytes free to an unprivileged writer and the filesystem's size, or None if unreadable."""
    while path and not os.path.exists(path):  # the root is made on the first write
        parent = os.path.dirname(path.rstrip("/"))
        if parent == path:
            break
        path = parent
    try:
        stats = os.statvfs(path or "/")
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize
