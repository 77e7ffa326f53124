"""The blob descriptor cache: "repository R may read blob D of size S", shared by nodes.

Only positive answers are cached, so a fresh push is never hidden by a stale miss. Every path
that removes a link or bytes invalidates first; if the shared cache cannot be reached then,
the removal is refused (503) rather than risk serving a stale descriptor later.

A per-process cache (``blobdescriptor: inmemory``) cannot hear about removals made by another
process (``dockyard gc`` or ``fsck --quarantine`` run by hand), so its entries live only
``LOCAL_TTL_SECONDS``. A blob HEAD does not depend on it at all (the pin that HEAD takes is
checked against the repository's link in the database), and a GET of bytes that are gone is
answered 404; what is left is a GET within that minute of a blob whose link another process
removed while its bytes were published again for another repository.
"""

from __future__ import annotations

import contextlib

from dockyard.cache.base import CacheUnavailableError, KeyValueCache, MemoryCache
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.persistence.records import BlobRecord

TTL_SECONDS = 3600.0
LOCAL_TTL_SECONDS = 60.0


def _key(repository: str, digest: str) -> str:
    return f"bd:{repository}@{digest}"


class BlobDescriptorCache:
    def __init__(self, cache: KeyValueCache, ttl_seconds: float | None = None) -> None:
        self.cache = cache
        if ttl_seconds is None:
            ttl_seconds = LOCAL_TTL_SECONDS if isinstance(cache, MemoryCache) else TTL_SECONDS
        self.ttl_seconds = ttl_seconds

    async def get(self, repository: str, digest: str) -> BlobRecord | None:
        value = await self.cache.get(_key(repository, digest))
        if value is None or not value.isdigit():
            return None
        return BlobRecord(digest, int(value))

    async def remember(self, repository: str, record: BlobRecord) -> None:
        value = str(record.size).encode()
        await self.cache.set(_key(repository, record.digest), value, self.ttl_seconds)

    async def forget_quietly(self, repository: str, digest: str) -> None:
        """Invalidate again after a removal (closes the race with a concurrent fill)."""
        with contextlib.suppress(CacheUnavailableError):
            await self.cache.delete(_key(repository, digest))

    async def forget(self, repository: str, digest: str) -> None:
        try:
            await self.cache.delete(_key(repository, digest))
        except CacheUnavailableError as error:
            raise RegistryError(
                ErrorCode.UNAVAILABLE,
                "the shared cache is unreachable; deletes are refused until it is back",
                detail={"reason": str(error)[:200]},
            ) from None
