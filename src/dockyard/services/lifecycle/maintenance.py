"""Upload purging: sessions idle longer than the configured age are removed with their bytes,
and the storage backend's own unfinished writes older than that age (S3 multipart uploads left
by a node that died mid-write) are aborted. ``dry_run`` only reports what would go. Runs as a
job (``jobs/maintenance.py``) every ``interval_seconds`` when ``enabled``."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from dockyard.persistence.stores import MetadataStore
from dockyard.storage.driver import StorageDriver
from dockyard.storage.layout import upload_dir

log = logging.getLogger("dockyard.maintenance")


class UploadPurger:
    def __init__(
        self,
        storage: StorageDriver,
        metadata: MetadataStore,
        *,
        enabled: bool,
        age_seconds: float,
        interval_seconds: float,
        dry_run: bool,
        clock: Callable[[], float] = time.time,
        is_read_only: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.is_read_only = is_read_only
        self.storage = storage
        self.metadata = metadata
        self.enabled = enabled
        self.age_seconds = age_seconds
        self.interval_seconds = interval_seconds
        self.dry_run = dry_run
        self.clock = clock

    async def purge_once(self) -> list[str]:
        """Remove every session idle for longer than the age; return their ids.

        Nothing is removed while the registry is switched read-only at run time.
        """
        if self.is_read_only is not None and await self.is_read_only():
            return []
        cutoff = self.clock() - self.age_seconds
        purged: list[str] = []
        while True:
            stale = [r for r in await self.metadata.uploads.stale(cutoff) if r.id not in purged]
            if not stale:
                return purged
            for record in stale:
                purged.append(record.id)
                if not self.dry_run:
                    await self.storage.delete(upload_dir(record.id))
                    await self.metadata.uploads.delete(record.id)
            if self.dry_run:
                return purged

    async def purge_parts_once(self) -> tuple[str, ...]:
        """Abort the backend's unfinished writes begun longer than the age ago; their paths.

        Nothing is aborted while the registry is switched read-only at run time.
        """
        if self.is_read_only is not None and await self.is_read_only():
            return ()
        cutoff = self.clock() - self.age_seconds
        return await self.storage.purge_stale_parts(cutoff, dry_run=self.dry_run)

    async def purge(self) -> str:
        """One round (a job of kind ``upload.purge``): stale sessions, then the backend's
        stale unfinished writes; a one-line summary."""
        purged = await self.purge_once()
        if purged:
            log.info("purged %d stale uploads (dry run: %s)", len(purged), self.dry_run)
        parts = await self.purge_parts_once()
        if parts:
            log.info(
                "aborted %d stale multipart uploads (dry run: %s): %s",
                len(parts), self.dry_run, ", ".join(parts[:10]),
            )  # fmt: skip
        verb = "would purge" if self.dry_run else "purged"
        return f"{verb} {len(purged)} stale uploads and {len(parts)} unfinished writes"
