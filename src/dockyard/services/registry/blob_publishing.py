"""Publishing verified bytes under their digest: claim, put in place, commit.

The protocol (see DESIGN.md, data-safety rules): the blob is *claimed* in the database first,
which pins it against garbage collection and waits while a sweep is deleting an older copy of
the same content; then the bytes are put at the content-addressed path, unless they are there
already (dedupe); then the blob is *committed* (marked ready and linked into the repository)
in one transaction. The bytes reach the path either by moving a finished upload file
(:meth:`BlobPublisher.moved`) or by committing a writer that streamed them straight there
(:meth:`BlobPublisher.direct`, only after the digest was verified); a blob already stored makes the
direct writer abort instead, so its bytes never replace the published ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from dockyard.core.digest import Digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin
from dockyard.persistence.records import BlobRecord
from dockyard.persistence.stores import MetadataStore
from dockyard.storage.driver import BlobWriter, PathNotFoundError, StorageDriver
from dockyard.storage.layout import blob_path

PUBLISH_RETRY_DELAYS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


async def publish(
    metadata: MetadataStore,
    repository: str,
    digest: Digest,
    size: int,
    place: Callable[[], Awaitable[None]],
    *,
    origin: EventOrigin | None = None,
) -> BlobRecord:
    """Claim (pins against GC), ``place`` the bytes, then mark ready and link.

    While garbage collection is deleting an older copy of the same content the claim waits
    for it to finish, so fresh bytes are never removed by a sweep that began earlier. A
    commit that finds the row deleting or gone (a sweep took the blob between the claim and
    the commit) starts over: claim, place (unless stored), commit. ``place`` must then
    either put the bytes there again or raise; it must never leave the path empty.
    """
    for delay in PUBLISH_RETRY_DELAYS:
        if await metadata.claim_blob(digest.text, size) == "deleting":
            await asyncio.sleep(delay)
            continue
        await place()
        blob = await metadata.commit_blob(
            repository, digest.text, size, claimed=True, origin=origin
        )
        if blob is not None:
            return blob
    raise RegistryError(
        ErrorCode.UNAVAILABLE, "garbage collection is busy with this blob; retry shortly"
    )


class BlobPublisher:
    """Publishes into ``storage`` and ``metadata`` by one of the two ways in."""

    def __init__(self, storage: StorageDriver, metadata: MetadataStore) -> None:
        self.storage = storage
        self.metadata = metadata

    async def moved(
        self,
        source: str,
        repository: str,
        digest: Digest,
        size: int,
        origin: EventOrigin | None = None,
    ) -> BlobRecord:
        """Publish the finished upload file at ``source`` (moved unless the blob is stored),
        with its ``blob.pushed`` event attributed to ``origin``."""
        destination = blob_path(digest)
        spent = False  # the upload file was moved: it cannot be placed a second time

        async def place() -> None:
            nonlocal spent
            if await is_stored(self.storage, destination, size):
                return
            if spent:
                raise _bytes_lost(digest)
            await self.storage.move(source, destination)
            spent = True

        return await publish(self.metadata, repository, digest, size, place, origin=origin)

    async def direct(
        self,
        writer: BlobWriter,
        repository: str,
        digest: Digest,
        origin: EventOrigin | None = None,
    ) -> BlobRecord:
        """Publish what ``writer`` streamed to the blob's path (its digest already verified):
        commit it, or abort it when the blob is stored already."""
        destination, size = blob_path(digest), writer.size
        spent = False  # the writer was committed: committing it again would publish nothing

        async def place() -> None:
            nonlocal spent
            if await is_stored(self.storage, destination, size):
                await writer.abort()
                return
            if spent:
                raise _bytes_lost(digest)
            await writer.commit()
            spent = True

        return await publish(self.metadata, repository, digest, size, place, origin=origin)


def _bytes_lost(digest: Digest) -> RegistryError:
    """A sweep deleted the bytes this publisher had placed (a copy of the same content that
    another push published was being collected): nothing is recorded; the client retries."""
    return RegistryError(
        ErrorCode.UNAVAILABLE,
        "garbage collection removed this blob while it was being published; push it again",
        detail={"digest": digest.text},
    )


async def is_stored(storage: StorageDriver, path: str, size: int) -> bool:
    try:
        return (await storage.stat(path)).size == size
    except PathNotFoundError:
        return False
