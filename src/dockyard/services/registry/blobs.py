"""Reading and deleting blobs a repository can see."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.cache.base import NullCache
from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin, EventRequest
from dockyard.core.reference import validate_name
from dockyard.persistence.stores import MetadataStore
from dockyard.services.events import origin_of
from dockyard.services.lifecycle.immutability import ImmutabilityService
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.descriptors import BlobDescriptorCache
from dockyard.services.registry.guards import ensure_delete_enabled
from dockyard.storage.driver import PathNotFoundError, StorageDriver
from dockyard.storage.layout import blob_path


@dataclass(frozen=True, slots=True)
class BlobHandle:
    """A readable blob: its size and how to stream or send it."""

    digest: str
    size: int
    inline: bytes | None = None
    storage_path: str = ""
    repository: str = ""


class BlobService:
    def __init__(
        self,
        storage: StorageDriver,
        metadata: MetadataStore,
        policy: AccessPolicy,
        options: RegistryOptions,
        *,
        descriptors: BlobDescriptorCache | None = None,
        immutability: ImmutabilityService | None = None,  # refuses deleting what they keep
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.policy = policy
        self.options = options
        self.descriptors = descriptors or BlobDescriptorCache(NullCache())
        self.immutability = immutability

    async def stat(
        self, principal: Principal, repository: str, digest: str, *, pin: bool = False
    ) -> BlobHandle:
        """The blob if ``repository`` may see it, else BLOB_UNKNOWN.

        With ``pin`` (a HEAD: a push is about to rely on the blob instead of uploading it) the
        blob is first pinned against garbage collection, if it is linked into ``repository``
        (the database answers, whatever the descriptor cache holds); one that is not linked,
        or that a sweep is deleting, is reported unknown, so the client uploads it again.
        """
        validate_name(repository)
        parsed = parse_digest(digest)
        self.policy.require(principal, Action.PULL, repository)
        if pin and not await self.metadata.pin_blob(repository, digest):
            return await self._manifest_as_blob(repository, digest)
        record = await self.descriptors.get(repository, digest)
        if record is None:
            record = await self.metadata.linked_blob(repository, digest)
            if record is not None:
                await self.descriptors.remember(repository, record)
        if record is not None:
            path = blob_path(parsed)
            return BlobHandle(digest, record.size, storage_path=path, repository=repository)
        return await self._manifest_as_blob(repository, digest)

    async def _manifest_as_blob(self, repository: str, digest: str) -> BlobHandle:
        manifest = await self.metadata.manifest_by_digest(repository, digest)
        if manifest is not None:
            return BlobHandle(digest, len(manifest.content), inline=manifest.content)
        raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})

    async def read(self, handle: BlobHandle, offset: int, length: int) -> AsyncIterator[bytes]:
        """The bytes; BLOB_UNKNOWN (before the first chunk) when they are gone from storage.

        That happens when another process (``dockyard gc`` or ``fsck --quarantine`` run by
        hand) removed them while this one still had the blob's descriptor cached
        (``blobdescriptor: inmemory``): the stale entry is dropped and the client told 404.
        """
        chunks = self.storage.read(handle.storage_path, offset, length)
        try:
            first = await anext(chunks, b"")
        except PathNotFoundError:
            if handle.repository:
                await self.descriptors.forget_quietly(handle.repository, handle.digest)
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": handle.digest}) from None
        yield first
        async for chunk in chunks:
            yield chunk

    async def redirect_url(self, handle: BlobHandle) -> str | None:
        """Where the client may fetch the bytes itself (a presigned URL), if storage offers it."""
        if not handle.storage_path:
            return None
        return await self.storage.redirect_url(handle.storage_path)

    async def _unlink(self, repository: str, digest: str, origin: EventOrigin) -> bool:
        if self.immutability is None:
            return await self.metadata.unlink_blob(repository, digest, origin=origin)
        return await self.immutability.unlink_blob(repository, digest, origin=origin)

    async def delete(
        self,
        principal: Principal,
        repository: str,
        digest: str,
        *,
        request_id: str = "",
        request: EventRequest | None = None,
    ) -> None:
        """Unlink the blob from ``repository``; bytes go when garbage collection runs."""
        validate_name(repository)
        parse_digest(digest)
        await ensure_delete_enabled(self.options, repository)
        self.policy.require(principal, Action.DELETE, repository)
        await self.descriptors.forget(repository, digest)
        if not await self._unlink(repository, digest, origin_of(principal, request_id, request)):
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest})
        await self.descriptors.forget_quietly(repository, digest)
