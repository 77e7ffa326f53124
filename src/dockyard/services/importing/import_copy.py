"""Copy one blob from a read-only source root into dockyard's storage, safely.

Used by ``dockyard import`` when the registry:2 root cannot be used in place (dockyard stores
blobs in S3, or under another local root). Each blob follows the publish path of an upload:
claim it (which pins it against garbage collection, and waits while a sweep deletes an older
copy), stream the source bytes to a private upload path while hashing them, refuse them if
the digest does not match, then move them to the content-addressed path and mark the blob
ready and linked in one transaction. Partial or wrong content is never published under a
digest; bytes already published in the target are not copied again.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from dockyard.core.digest import Digest, new_hasher
from dockyard.persistence.stores import MetadataStore
from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.layout import blob_path, upload_dir, upload_path

_CLAIM_RETRY_DELAYS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


class CopyError(Exception):
    """The blob could not be copied; the message says why (nothing was published)."""


@dataclass(frozen=True, slots=True)
class Copied:
    """The outcome of one blob: ``copied_bytes`` is 0 when the target already had it."""

    size: int
    copied_bytes: int


class BlobCopier:
    def __init__(
        self, source: StorageDriver, target: StorageDriver, metadata: MetadataStore
    ) -> None:
        self.source = source
        self.target = target
        self.metadata = metadata

    async def needs_copy(self, digest: Digest, size: int) -> bool:
        """Whether the target lacks the bytes (what a dry run reports)."""
        return not await self._stored(blob_path(digest), size)

    async def copy(self, repository: str, digest: Digest, size: int) -> Copied:
        """Publish the source's bytes of ``digest`` in the target and link it to ``repository``.

        The bytes are staged and verified before the blob is claimed, so a source whose bytes
        do not match their digest leaves nothing behind but a report.
        """
        upload_id = secrets.token_urlsafe(24)
        staged = used = False
        try:
            if await self.needs_copy(digest, size):
                staged = await self._stage(digest, size, upload_id)
            for delay in _CLAIM_RETRY_DELAYS:
                if await self.metadata.claim_blob(digest.text, size) == "deleting":
                    await asyncio.sleep(delay)  # a sweep removes an older copy: wait, retry
                    continue
                copied = 0
                if await self.needs_copy(digest, size):
                    staged = staged or await self._stage(digest, size, upload_id)
                    await self.target.move(upload_path(upload_id), blob_path(digest))
                    staged, used, copied = False, True, size
                committed = await self.metadata.commit_blob(
                    repository, digest.text, size, claimed=True
                )
                if committed is not None:
                    return Copied(size, copied)
            raise CopyError(f"blob {digest} is being garbage collected; try the import again")
        finally:
            if staged or used:
                await self.target.delete(upload_dir(upload_id))  # what a move leaves behind

    async def _stage(self, digest: Digest, size: int, upload_id: str) -> bool:
        """Stream the source bytes to the private ``upload_id`` path, verifying the digest."""
        try:
            await self._write_verified(digest, size, upload_path(upload_id))
        except BaseException:
            await self.target.delete(upload_dir(upload_id))
            raise
        return True

    async def _write_verified(self, digest: Digest, size: int, private: str) -> None:
        hasher = new_hasher(digest.algorithm)
        writer = await self.target.writer(private, append=False)
        try:
            async for chunk in self.source.read(blob_path(digest)):
                hasher.update(chunk)
                await writer.write(chunk)
            await writer.flush()
        finally:
            await writer.close()
        if writer.size != size or hasher.hexdigest() != digest.hex:
            raise CopyError(
                f"blob {digest}: the source bytes do not match the digest "
                f"({writer.size} bytes, {digest.algorithm}:{hasher.hexdigest()})"
            )

    async def _stored(self, path: str, size: int) -> bool:
        try:
            return (await self.target.stat(path)).size == size
        except PathNotFoundError:
            return False
