"""``dockyard backup``: a consistent copy of a serving registry.

1. Take a metadata snapshot (one consistent read; pushes go on) and read from it the blobs it
   records as ready.
2. Hold those blobs against garbage collection (their ``pinned_until`` moved far beyond any
   grace period), then check that every one of them is still ready: a sweep that got one
   between the snapshot and the hold makes the snapshot useless, and it is taken again.
3. Write the snapshot, then copy each blob the destination does not hold yet, verified.
4. Write ``manifest.json``, then point ``latest`` at it; release the holds (they become
   ordinary pins, so a grace period still applies afterwards).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.backup_records import BlobHolds, SnapshotBlob, SnapshotSource
from dockyard.services.backup.copying import copy_verified
from dockyard.services.backup.manifest import (
    LATEST,
    BackupManifest,
    backup_dir,
    encode,
    manifest_path,
    metadata_path,
    staging_path,
)
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.storage.driver import StorageDriver
from dockyard.storage.layout import blob_path

log = logging.getLogger("dockyard.backup")
SNAPSHOT_ATTEMPTS = 5
CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BackupOptions:
    hold_seconds: float = 24 * 3600.0  # how long a backup that dies keeps its blobs from GC
    pin_seconds: float = 3600.0  # the ordinary pin the holds become once the backup is done


class BackupService:
    def __init__(
        self,
        storage: StorageDriver,
        source: SnapshotSource,
        holds: BlobHolds,
        *,
        options: BackupOptions = BackupOptions(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.source = source
        self.holds = holds
        self.options = options
        self.clock = clock

    async def run(
        self, destination: StorageDriver, progress: Progress = NO_PROGRESS
    ) -> BackupManifest:
        started = self.clock()
        backup_id = new_backup_id(started)
        held_until = float(int(started + self.options.hold_seconds))
        try:
            with tempfile.TemporaryDirectory(prefix="dockyard-backup-") as work:
                local = os.path.join(work, "metadata")
                progress.begin("snapshot")
                blobs = await self._snapshot(local, held_until, backup_id)
                progress.end()
                digest = await _upload(
                    local, destination, metadata_path(backup_id, self.source.kind), backup_id
                )
            copied, copied_bytes = await self._copy_blobs(blobs, destination, backup_id, progress)
            manifest = BackupManifest(
                id=backup_id, created_at=started, finished_at=self.clock(),
                database=self.source.kind, metadata_file=metadata_path(backup_id, self.source.kind),
                metadata_sha256=digest, blob_count=len(blobs),
                blob_bytes=sum(b.size for b in blobs), copied_blobs=copied,
                copied_bytes=copied_bytes, blobs=[(b.digest, b.size) for b in blobs],
            )  # fmt: skip
            await destination.put_content(manifest_path(backup_id), encode(manifest))
            await destination.put_content(LATEST, backup_id.encode())
            await destination.delete(f"{backup_dir(backup_id)}/staging")
            await self.holds.record_success(backup_id, manifest.finished_at)
        finally:
            now = self.clock()
            await self.holds.release(held_until, now + self.options.pin_seconds, backup_id, now)
        log.info("backup %s: %d blobs, %d copied", backup_id, len(blobs), copied)
        return manifest

    async def _snapshot(
        self, local: str, held_until: float, backup_id: str
    ) -> Sequence[SnapshotBlob]:
        for attempt in range(1, SNAPSHOT_ATTEMPTS + 1):
            async with self.source.snapshot() as snapshot:
                await self.holds.hold(held_until, backup_id)
                ready = await self.holds.ready_digests()
                gone = [b.digest for b in snapshot.blobs if b.digest not in ready]
                if not gone:
                    await snapshot.write(local)
                    return snapshot.blobs
            log.info("backup: %d blobs collected since the snapshot (try %d); taking it again",
                     len(gone), attempt)  # fmt: skip
        raise RegistryError(
            ErrorCode.UNAVAILABLE, "backup: blobs keep being collected under the snapshot"
        )

    async def _copy_blobs(
        self,
        blobs: Sequence[SnapshotBlob],
        destination: StorageDriver,
        backup_id: str,
        progress: Progress,
    ) -> tuple[int, int]:
        progress.begin("blobs", len(blobs), sum(b.size for b in blobs))
        copied = copied_bytes = 0
        for blob in blobs:
            digest = parse_digest(blob.digest)
            path = blob_path(digest)
            moved = await copy_verified(
                self.storage, path, destination, path,
                staging_path=staging_path(backup_id, digest.hex), digest=digest, size=blob.size,
            )  # fmt: skip
            copied += moved > 0
            copied_bytes += moved
            progress.advance(1, blob.size)
        progress.end()
        return copied, copied_bytes


def new_backup_id(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    return f"{stamp}-{suffix}"


async def _upload(local: str, destination: StorageDriver, path: str, backup_id: str) -> str:
    """Put the local file at ``path`` (staged, then moved); return its sha256."""
    hasher = hashlib.sha256()
    staged = staging_path(backup_id, "metadata")
    writer = await destination.writer(staged, append=False)
    try:
        with open(local, "rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
                await writer.write(chunk)
        await writer.flush()
    finally:
        await writer.close()
    await destination.move(staged, path)
    return hasher.hexdigest()
