"""``dockyard restore``: bring a backup into an empty registry.

The target must be empty (no blob in its storage, nothing in its database): a restore never
merges into or overwrites a registry. Blobs are copied first, each verified against its
digest; the metadata snapshot last (checked against the manifest's sha256), so a registry
started on a half-restored target finds no database content. Afterwards jobs that were
running at backup time are queued again and upload sessions (whose bytes a backup does not
hold) are dropped.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import dataclass

from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.backup_records import MetadataRestorer
from dockyard.services.backup.copying import copy_verified
from dockyard.services.backup.manifest import (
    LATEST,
    BackupManifest,
    check_id,
    decode,
    manifest_path,
)
from dockyard.services.progress import NO_PROGRESS, Progress
from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.layout import BLOBS_PREFIX, blob_path, upload_dir, upload_path


class RestoreRefusedError(Exception):
    """The target is not empty, or the backup does not fit it; nothing was changed."""


@dataclass(frozen=True, slots=True)
class RestoreReport:
    backup: BackupManifest
    copied_blobs: int
    copied_bytes: int
    jobs_requeued: int

    def summary(self) -> str:
        return (
            f"restored backup {self.backup.id}: {self.backup.blob_count} blobs "
            f"({self.copied_blobs} copied, {self.copied_bytes} bytes), metadata "
            f"({self.backup.database}); {self.jobs_requeued} interrupted jobs queued again"
        )


async def read_manifest(source: StorageDriver, backup_id: str | None) -> BackupManifest:
    """The manifest of ``backup_id``, or of the newest complete backup."""
    try:
        chosen = backup_id or (await source.get_content(LATEST)).decode().strip()
        return decode(await source.get_content(manifest_path(check_id(chosen))))
    except PathNotFoundError as exc:
        raise RegistryError(
            ErrorCode.NAME_UNKNOWN, f"no complete backup there ({exc.path} is missing)"
        ) from exc


class RestoreService:
    def __init__(self, storage: StorageDriver, restorer: MetadataRestorer) -> None:
        self.storage = storage
        self.restorer = restorer

    async def run(
        self, source: StorageDriver, backup_id: str | None = None, progress: Progress = NO_PROGRESS
    ) -> RestoreReport:
        manifest = await read_manifest(source, backup_id)
        await self._refuse_unfit(manifest)
        copied, copied_bytes = await self._copy_blobs(source, manifest, progress)
        with tempfile.TemporaryDirectory(prefix="dockyard-restore-") as work:
            local = os.path.join(work, "metadata")
            await _download(source, manifest, local)
            progress.begin("metadata")
            await self.restorer.restore(local)
            requeued = await self.restorer.reset()
            progress.end()
        return RestoreReport(manifest, copied, copied_bytes, requeued)

    async def _refuse_unfit(self, manifest: BackupManifest) -> None:
        if manifest.database != self.restorer.kind:
            raise RestoreRefusedError(
                f"backup {manifest.id} holds a {manifest.database} database; "
                f"the target database is {self.restorer.kind}"
            )
        try:
            await self.storage.list(BLOBS_PREFIX)
        except PathNotFoundError:
            pass
        else:
            raise RestoreRefusedError("the target storage already holds blobs; restore needs "
                                      "an empty data directory or bucket")  # fmt: skip
        if not await self.restorer.is_empty():
            raise RestoreRefusedError("the target database is not empty; restore needs an "
                                      "empty database")  # fmt: skip

    async def _copy_blobs(
        self, source: StorageDriver, manifest: BackupManifest, progress: Progress
    ) -> tuple[int, int]:
        progress.begin("blobs", manifest.blob_count, manifest.blob_bytes)
        copied = copied_bytes = 0
        for text, size in manifest.blobs:
            digest = parse_digest(text)
            upload_id = secrets.token_urlsafe(24)
            try:
                moved = await copy_verified(
                    source, blob_path(digest), self.storage, blob_path(digest),
                    staging_path=upload_path(upload_id), digest=digest, size=size,
                )  # fmt: skip
            finally:
                await self.storage.delete(upload_dir(upload_id))
            copied += moved > 0
            copied_bytes += moved
            progress.advance(1, size)
        progress.end()
        return copied, copied_bytes


async def _download(source: StorageDriver, manifest: BackupManifest, local: str) -> None:
    hasher = hashlib.sha256()
    with open(local, "wb") as handle:
        async for chunk in source.read(manifest.metadata_file):
            hasher.update(chunk)
            handle.write(chunk)
    if hasher.hexdigest() != manifest.metadata_sha256:
        raise RegistryError(
            ErrorCode.MANIFEST_INVALID,
            f"backup {manifest.id}: {manifest.metadata_file} does not match its sha256",
        )
