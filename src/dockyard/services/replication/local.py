"""This registry as one end of a copy: read and written through its own services.

Manifests go through :class:`ManifestService` (the checks, quotas, events and references of
a push), as the system principal ``system:replication``. A blob pulled from a peer follows
the publish path of an upload (as ``dockyard import`` does, services/importing/import_copy.py): the
bytes go to a private staging path named after the policy and digest, hashed on the way
and made durable every ``checkpoint`` bytes (the policy's ``chunk_bytes``);
only when the digest matches are they claimed (pinned against GC), moved to the
content-addressed path and linked to the repository in one transaction. A run that died
half-way finds the staged bytes, hashes them again once, and asks the peer only for the rest
(``Range``). Wrong bytes are never published under a digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.core.digest import Digest, new_hasher, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.stores import MetadataStore
from dockyard.services.replication.endpoints import CopyFailedError, Manifest, OpenAt, Pace
from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.layout import blob_path, upload_dir, upload_path

log = logging.getLogger("dockyard.replication")
REPLICATOR = Principal("system:replication", identity=SYSTEM, client="")
PAGE = 1000
CHECKPOINT = 8 * 1024 * 1024
_CLAIM_RETRY_DELAYS = (0.0, 0.05, 0.2, 0.5, 1.0, 2.0)

if TYPE_CHECKING:
    from dockyard.auth.policy import AccessPolicy
    from dockyard.services.registry.blobs import BlobService
    from dockyard.services.registry.listing import ListingService
    from dockyard.services.registry.manifests import ManifestService


@dataclass(frozen=True, slots=True)
class LocalServices:
    """The registry services this end reads and writes through (built before the frozen
    ``Registry``, which holds the replication service)."""

    policy: AccessPolicy
    blobs: BlobService
    manifests: ManifestService
    listing: ListingService


class LocalEndpoint:
    def __init__(
        self,
        registry: LocalServices,
        storage: StorageDriver,
        metadata: MetadataStore,
        key: str,
        checkpoint: int = CHECKPOINT,
    ) -> None:
        self.registry = registry
        self.checkpoint = checkpoint  # staged bytes made durable every this many
        self.storage = storage
        self.metadata = metadata
        self.key = key  # names this policy's staging paths
        self.name = "local"

    async def repositories(self) -> list[str]:
        names: list[str] = []
        last = ""
        while page := await self.metadata.list_repositories(last, PAGE):
            names += page
            if len(page) < PAGE:
                break
            last = page[-1]
        return names

    async def tags(self, repository: str) -> list[str]:
        found: list[str] = []
        last = ""
        while page := await self.metadata.list_tags(repository, last, PAGE):
            found += page
            if len(page) < PAGE:
                break
            last = page[-1]
        return found

    async def manifest(self, repository: str, reference: str) -> Manifest | None:
        try:
            record = await self.registry.manifests.get(REPLICATOR, repository, reference,
                                                       download=False)  # fmt: skip
        except RegistryError as error:
            if error.code in (ErrorCode.MANIFEST_UNKNOWN, ErrorCode.NAME_UNKNOWN):
                return None
            raise
        return Manifest(record.digest, record.media_type, record.content)

    async def digest_of(self, repository: str, reference: str) -> str | None:
        found = await self.manifest(repository, reference)
        return None if found is None else found.digest

    async def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        try:
            await self.registry.manifests.put(
                REPLICATOR, repository, reference, content_type=manifest.media_type,
                body=manifest.content, extra_tags=[],
            )  # fmt: skip
        except RegistryError as error:
            detail = f"{error.code.value_name} {error.message}"
            raise CopyFailedError(f"manifest {reference}: {detail}") from None

    async def delete_tag(self, repository: str, tag: str) -> bool:
        try:
            await self.registry.manifests.delete(REPLICATOR, repository, tag)
        except RegistryError as error:
            if error.code in (ErrorCode.MANIFEST_UNKNOWN, ErrorCode.NAME_UNKNOWN):
                return False
            raise CopyFailedError(f"deleting {tag}: {error.message}") from None
        return True

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        try:
            body = await self.registry.listing.referrers(REPLICATOR, repository, digest, None)
        except RegistryError:
            return []
        index = msgspec.json.decode(body)
        return list(index.get("manifests", [])) if isinstance(index, dict) else []

    async def has_blob(self, repository: str, digest: str) -> bool:
        return await self.metadata.linked_blob(repository, digest) is not None

    async def mount(self, repository: str, digest: str, source: str) -> bool:
        if await self.metadata.any_blob(digest) is None:
            return False
        return await self.metadata.link_blob(repository, digest, source=source) is not None

    async def read_blob(self, repository: str, digest: str, offset: int) -> AsyncIterator[bytes]:
        handle = await self.registry.blobs.stat(REPLICATOR, repository, digest)
        if handle.inline is not None:
            yield handle.inline[offset:]
            return
        async for chunk in self.registry.blobs.read(handle, offset, handle.size - offset):
            yield chunk

    async def write_blob(
        self, repository: str, digest: str, size: int, open_at: OpenAt, pace: Pace
    ) -> int:
        parsed = parse_digest(digest)
        here = await self.metadata.any_blob(digest) is not None  # in another repository
        if here and await self.metadata.link_blob(repository, digest) is not None:
            return 0
        upload_id = self._staging_id(parsed)
        sent = await self._stage(parsed, size, upload_id, open_at, pace)
        await self._publish(repository, parsed, size, upload_id)
        return sent

    def _staging_id(self, digest: Digest) -> str:
        return "repl-" + hashlib.sha256(f"{self.key}:{digest.text}".encode()).hexdigest()[:40]

    async def _stage(
        self, digest: Digest, size: int, upload_id: str, open_at: OpenAt, pace: Pace
    ) -> int:
        path = upload_path(upload_id)
        hasher, offset = await self._rehash(digest, path)
        if offset > size:
            hasher, offset = new_hasher(digest.algorithm), 0
        if offset:
            log.info("resuming the download of %s at byte %d", digest.text, offset)
        writer = await self.storage.writer(path, append=offset > 0)
        sent = since = 0
        try:
            async for chunk in open_at(offset):
                await pace(len(chunk))
                hasher.update(chunk)
                await writer.write(chunk)
                sent, since = sent + len(chunk), since + len(chunk)
                if since >= self.checkpoint:  # durable now: a crash resumes from here
                    await writer.flush()
                    await writer.close()
                    writer, since = await self.storage.writer(path, append=True), 0
            await writer.flush()
        finally:
            await writer.close()
        if offset + sent != size or hasher.hexdigest() != digest.hex:
            await self.storage.delete(upload_dir(upload_id))
            raise CopyFailedError(f"blob {digest.text}: the bytes received do not match it")
        return sent

    async def _rehash(self, digest: Digest, path: str) -> tuple[Any, int]:
        """The hash of what a run that died left staged, and its length (0: nothing)."""
        hasher = new_hasher(digest.algorithm)
        offset = 0
        try:
            async for chunk in self.storage.read(path):
                hasher.update(chunk)
                offset += len(chunk)
        except PathNotFoundError:
            return new_hasher(digest.algorithm), 0
        return hasher, offset

    async def _publish(self, repository: str, digest: Digest, size: int, upload_id: str) -> None:
        try:
            for delay in _CLAIM_RETRY_DELAYS:
                if await self.metadata.claim_blob(digest.text, size) == "deleting":
                    await asyncio.sleep(delay)  # a sweep removes an older copy: wait, retry
                    continue
                if not await _stored(self.storage, blob_path(digest), size):
                    await self.storage.move(upload_path(upload_id), blob_path(digest))
                committed = await self.metadata.commit_blob(repository, digest.text, size,
                                                            claimed=True)  # fmt: skip
                if committed is not None:
                    return
            raise CopyFailedError(f"blob {digest.text} is being garbage collected; retry")
        finally:
            await self.storage.delete(upload_dir(upload_id))


async def _stored(storage: StorageDriver, path: str, size: int) -> bool:
    try:
        return (await storage.stat(path)).size == size
    except PathNotFoundError:
        return False
