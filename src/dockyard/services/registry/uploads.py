"""Blob uploads: sessions, streamed and chunked appends, completion, mounts.

Bytes are hashed inline as they are written to a private upload path. The live hash stays in
the process that owns the session; when a chunk arrives where no live hash matches the stored
bytes (another node, a restart), the hash is rebuilt from storage once and counted in
``rehash_count``. Completion verifies the digest, then publishes by moving the bytes to the
content-addressed path and recording the blob in one transaction; a mismatch publishes nothing.

A body whose digest is known before it arrives (``POST ?digest=``, or a ``PUT ?digest=`` that
carries the whole blob into an empty session) goes straight to the blob's final path when the
storage driver offers a direct writer (S3): it is written once, hashed on the way, and
committed only after the digest verified and the blob was claimed; anything else aborts it,
and the session's offset stays what it was. Chunked uploads keep the upload path.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.cache.base import LocalLocks, LockManager
from dockyard.core.digest import Digest, new_hasher, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.events import EventOrigin, EventRequest
from dockyard.core.reference import NAME_MAX_LENGTH, validate_name
from dockyard.persistence.records import BlobRecord, UploadRecord
from dockyard.persistence.stores import MetadataStore
from dockyard.services.events import origin_of
from dockyard.services.lifecycle.quotas import Admit, QuotaExceededError, QuotaService
from dockyard.services.registry import RegistryOptions
from dockyard.services.registry.blob_publishing import BlobPublisher
from dockyard.services.registry.guards import ensure_writable
from dockyard.services.registry.upload_limits import (
    SESSION_COUNTED_FOR_SECONDS,
    session_cap_error,
    session_client,
)
from dockyard.services.registry.upload_streams import LiveHash, pump
from dockyard.storage.driver import BlobWriter, PathNotFoundError, StorageDriver
from dockyard.storage.layout import blob_path, is_upload_id, upload_dir, upload_path

UPLOAD_LOCK_SECONDS = 900.0


@dataclass(frozen=True, slots=True)
class MountedBlob:
    blob: BlobRecord  # as the source repository has it
    source: str
    origin: EventOrigin


class UploadService:
    def __init__(
        self,
        storage: StorageDriver,
        metadata: MetadataStore,
        policy: AccessPolicy,
        options: RegistryOptions,
        *,
        clock: Callable[[], float] = time.time,
        locks: LockManager | None = None,
        quotas: QuotaService | None = None,
    ) -> None:
        self.quotas = quotas  # per-project limits, checked before bytes land
        self.storage = storage
        self.metadata = metadata
        self.policy = policy
        self.options = options
        self.clock = clock
        self.rehash_count = 0
        self._live: dict[str, LiveHash] = {}
        self.locks: LockManager = locks or LocalLocks()
        self.hashing = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dockyard-hash")
        self.publisher = BlobPublisher(storage, metadata)

    # sessions ------------------------------------------------------------------------------

    async def start(
        self, principal: Principal, repository: str, *, address: str = "", request_id: str = ""
    ) -> UploadRecord:
        """A new session; refused (429) while the repository or the client (the user, or
        ``address`` when anonymous) has as many open sessions as the options allow."""
        await self._check_push(principal, repository)
        if self.quotas is not None:  # refuses a session in a full project
            await self.quotas.room(repository, origin=origin_of(principal, request_id))
        now = self.clock()
        client = session_client(principal.name, principal.authenticated, address)
        record = UploadRecord(
            secrets.token_urlsafe(24), repository, principal.name, 0, now, now, client
        )
        if not await self.metadata.uploads.create_within(
            record,
            self.options.sessions_per_repository,
            self.options.sessions_per_client,
            active_since=now - SESSION_COUNTED_FOR_SECONDS,
        ):
            raise session_cap_error(self.options)
        try:
            writer = await self.storage.writer(upload_path(record.id), append=False)
            await writer.close()
        except BaseException:
            await self.metadata.uploads.delete(record.id)  # the place is not taken
            raise
        self._live[record.id] = LiveHash(new_hasher("sha256"), 0)
        return record

    async def find(self, principal: Principal, repository: str, upload_id: str) -> UploadRecord:
        """The session if it belongs to this repository and caller, else BLOB_UPLOAD_UNKNOWN."""
        validate_name(repository)
        record = await self.metadata.uploads.get(upload_id) if is_upload_id(upload_id) else None
        if record is None or record.repository != repository or record.principal != principal.name:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id[:80]})
        self.policy.require(principal, Action.PUSH, repository)
        return record

    async def offset(self, record: UploadRecord) -> int:
        """Bytes stored for the session: the truth, whatever any client believes."""
        try:
            return (await self.storage.stat(upload_path(record.id))).size
        except PathNotFoundError:
            raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": record.id}) from None

    async def cancel(self, principal: Principal, repository: str, upload_id: str) -> None:
        record = await self.find(principal, repository, upload_id)
        await self._discard(record.id)

    # appends -------------------------------------------------------------------------------

    async def append(
        self,
        principal: Principal,
        repository: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        start: int | None = None,
        *,
        length: int | None = None,
        request_id: str = "",
    ) -> tuple[UploadRecord, int]:
        """Append a chunk; ``start`` (from Content-Range) must equal the stored offset."""
        record = await self.find(principal, repository, upload_id)
        await ensure_writable(self.options, repository)
        origin = origin_of(principal, request_id)
        async with self._lock(record.id):
            await self._write_within_quota(record, body, start, length, origin)
            return record, await self.offset(record)

    async def complete(
        self,
        principal: Principal,
        repository: str,
        upload_id: str,
        digest: str,
        body: AsyncIterator[bytes],
        *,
        length: int | None = None,
        start: int | None = None,
        request_id: str = "",
        request: EventRequest | None = None,
    ) -> BlobRecord:
        """Take the last chunk, verify ``digest`` and publish the blob (a ``blob.pushed``
        event); ``start`` (from Content-Range) must equal the stored offset, else 416 and the
        session stays as it was."""
        expected = parse_digest(digest)
        record = await self.find(principal, repository, upload_id)
        await ensure_writable(self.options, repository)
        origin = origin_of(principal, request_id, request)
        async with self._lock(record.id):
            if start is not None and start != (stored := await self.offset(record)):
                raise _range_error(stored)
            writer = await self._direct_writer(record, expected, length)
            if writer is not None:
                return await self._complete_direct(
                    record, expected, writer, body, length, origin=origin
                )
            live, size = await self._write_within_quota(
                record, body, start, length, origin, durable=True
            )
            actual = await self._final_digest(record.id, live, expected.algorithm, size)
            if actual != expected.hex:
                await self._discard(record.id)
                raise _digest_mismatch(expected, actual)
            blob = await self._publish(upload_path(record.id), repository, expected, size, origin)
            await self._discard(record.id)
            return blob

    async def monolithic(
        self,
        principal: Principal,
        repository: str,
        digest: str,
        body: AsyncIterator[bytes],
        *,
        length: int | None = None,
        request_id: str = "",
        request: EventRequest | None = None,
    ) -> BlobRecord:
        """``POST ?digest=`` with the whole blob as the body (a ``blob.pushed`` event)."""
        expected = parse_digest(digest)
        await self._check_push(principal, repository)
        origin = origin_of(principal, request_id, request)
        direct = await self.storage.direct_writer(blob_path(expected))
        if direct is not None:
            return await self._direct(direct, repository, expected, body, length, origin=origin)
        async with self._hold(repository, length, origin) as admit:  # held until published
            return await self._monolithic(repository, expected, admit(body), origin)

    async def _monolithic(
        self, repository: str, expected: Digest, body: AsyncIterator[bytes], origin: EventOrigin
    ) -> BlobRecord:
        upload_id = secrets.token_urlsafe(24)
        path = upload_path(upload_id)
        try:
            writer = await self.storage.writer(path, append=False)
            hasher = new_hasher(expected.algorithm)
            try:
                await pump(body, writer, LiveHash(hasher, 0), self.hashing)
                await writer.flush()
            finally:
                await writer.close()
            if hasher.hexdigest() != expected.hex:
                raise _digest_mismatch(expected, hasher.hexdigest())
            return await self._publish(path, repository, expected, writer.size, origin)
        finally:
            await self.storage.delete(upload_dir(upload_id))

    async def mount(
        self,
        principal: Principal,
        repository: str,
        digest: str,
        source: str | None,
        *,
        request_id: str = "",
        request: EventRequest | None = None,
    ) -> BlobRecord | None:
        """Link an existing blob from ``source`` (or any readable repository when None); a
        new link is a ``blob.mounted`` event."""
        parse_digest(digest)
        await self._check_push(principal, repository)
        if source is not None:
            candidates = [source] if _is_valid_name(source) else []
        else:
            candidates = await self.metadata.repositories_with_blob(digest)
        for candidate in candidates:
            if not self.policy.allows(principal, Action.PULL, candidate):
                continue
            found = await self.metadata.linked_blob(candidate, digest)
            if found is None:
                continue
            mounted = MountedBlob(found, candidate, origin_of(principal, request_id, request))
            return await self._link_within_quota(repository, mounted)
        return None

    # internals -----------------------------------------------------------------------------

    async def _check_push(self, principal: Principal, repository: str) -> None:
        validate_name(repository)
        await ensure_writable(self.options, repository)
        self.policy.require(principal, Action.PUSH, repository)

    async def _link_within_quota(self, repository: str, mounted: MountedBlob) -> BlobRecord | None:
        """Link a mounted blob, holding its size while it is linked unless the project counts
        it already; None when it does not fit (the client uploads instead, and hears why)."""
        found = mounted.blob
        if self.quotas is None or await self.quotas.counts_already(repository, found.digest):
            return await self._link(repository, mounted)
        try:
            async with self.quotas.holding(repository, found.size):  # refused: an upload
                return await self._link(repository, mounted)
        except QuotaExceededError:
            return None

    async def _link(self, repository: str, mounted: MountedBlob) -> BlobRecord | None:
        return await self.metadata.link_blob(
            repository, mounted.blob.digest, source=mounted.source, origin=mounted.origin
        )

    def _hold(
        self, repository: str, length: int | None, origin: EventOrigin, upload_id: str = ""
    ) -> AbstractAsyncContextManager[Admit]:
        """Room held in the project's quota while a body is stored (services/lifecycle/quotas.py); a
        refusal is a ``quota.exceeded`` event attributed to ``origin``."""
        if self.quotas is None:
            return _unlimited()
        return self.quotas.holding(repository, length, upload_id=upload_id, origin=origin)

    def _lock(self, upload_id: str) -> AbstractAsyncContextManager[None]:
        """One writer per session, across every node that shares the lock manager."""
        return self.locks.hold(f"upload:{upload_id}", UPLOAD_LOCK_SECONDS)

    async def _write(
        self,
        record: UploadRecord,
        body: AsyncIterator[bytes],
        start: int | None,
        *,
        durable: bool = False,
    ) -> tuple[LiveHash, int]:
        writer = await self.storage.writer(upload_path(record.id), append=True)
        live: LiveHash | None = None
        stored = True  # the bytes written count as the session's (False: refused, discarded)
        try:
            if start is not None and start != writer.size:
                raise _range_error(writer.size)
            live = await self._live_hash(record.id, writer.size)
            await pump(body, writer, live, self.hashing)
            if durable:
                await writer.flush()
        except QuotaExceededError:
            stored = False  # must not count, not even until the caller discards the session
            raise
        finally:
            await writer.close()
            if live is not None:
                self._live[record.id] = live
            if stored:
                await self.metadata.uploads.set_offset(record.id, writer.size, self.clock())
        return live, writer.size

    async def _write_within_quota(
        self,
        record: UploadRecord,
        body: AsyncIterator[bytes],
        start: int | None,
        length: int | None,
        origin: EventOrigin,
        *,
        durable: bool = False,
    ) -> tuple[LiveHash, int]:
        """``_write``, refused or cut off where the project's quota ends (the partial upload
        is then deleted: the session is gone, the client starts over)."""
        try:
            async with self._hold(record.repository, length, origin, record.id) as admit:
                return await self._write(record, admit(body), start, durable=durable)
        except QuotaExceededError:
            await self._discard(record.id)
            raise

    async def _direct_writer(
        self, record: UploadRecord, expected: Digest, length: int | None
    ) -> BlobWriter | None:
        """A writer at the blob's final path, when this body is the whole blob: the session
        holds no bytes (an empty body keeps the upload path: it may finish a chunked upload)."""
        if length == 0 or record.offset != 0 or await self.offset(record) != 0:
            return None
        return await self.storage.direct_writer(blob_path(expected))

    async def _complete_direct(
        self,
        record: UploadRecord,
        expected: Digest,
        writer: BlobWriter,
        body: AsyncIterator[bytes],
        length: int | None,
        *,
        origin: EventOrigin,
    ) -> BlobRecord:
        """``_direct`` for a session: ended by success, a wrong digest or a quota refusal (as
        on the upload path); any other failure (a client that left) leaves it where it was."""
        try:
            blob = await self._direct(
                writer,
                record.repository,
                expected,
                body,
                length,
                origin=origin,
                upload_id=record.id,
            )
        except RegistryError as error:
            if isinstance(error, QuotaExceededError) or error.code is ErrorCode.DIGEST_INVALID:
                await self._discard(record.id)
            raise
        await self._discard(record.id)
        return blob

    async def _direct(
        self,
        writer: BlobWriter,
        repository: str,
        expected: Digest,
        body: AsyncIterator[bytes],
        length: int | None,
        *,
        origin: EventOrigin,
        upload_id: str = "",
    ) -> BlobRecord:
        """Stream ``body`` into ``writer`` (at the blob's path), hashing it; publish only a
        verified digest. Whatever goes wrong, the writer is aborted: nothing becomes visible."""
        try:
            async with self._hold(repository, length, origin, upload_id) as admit:
                live = LiveHash(new_hasher(expected.algorithm), 0)
                await pump(admit(body), writer, live, self.hashing)
                if live.hasher.hexdigest() != expected.hex:
                    raise _digest_mismatch(expected, live.hasher.hexdigest())
                blob = await self.publisher.direct(writer, repository, expected, origin)
        finally:
            await writer.abort()  # nothing to do once committed
        await self._stored(repository, blob.size, origin)
        return blob

    async def _live_hash(self, upload_id: str, size: int) -> LiveHash:
        live = self._live.get(upload_id)
        if live is not None and live.hashed == size:
            return live
        self.rehash_count += 1
        return LiveHash(await self._hash_stored(upload_id, "sha256", size), size)

    async def _hash_stored(self, upload_id: str, algorithm: str, size: int) -> Any:
        hasher = new_hasher(algorithm)
        async for chunk in self.storage.read(upload_path(upload_id), 0, size):
            hasher.update(chunk)
        return hasher

    async def _final_digest(self, upload_id: str, live: LiveHash, algorithm: str, size: int) -> str:
        if algorithm == "sha256" and live.hashed == size:
            return str(live.hasher.hexdigest())
        return str((await self._hash_stored(upload_id, algorithm, size)).hexdigest())

    async def _publish(
        self, source: str, repository: str, digest: Digest, size: int, origin: EventOrigin
    ) -> BlobRecord:
        """Move the verified upload file into place, claimed against GC (blob_publishing)."""
        blob = await self.publisher.moved(source, repository, digest, size, origin)
        await self._stored(repository, size, origin)
        return blob

    async def _stored(self, repository: str, size: int, origin: EventOrigin) -> None:
        """Count new bytes in the project's cached usage; past the warning threshold, a
        ``quota.warning`` event (once per crossing)."""
        if self.quotas is not None:
            self.quotas.added(repository, size)
            await self.quotas.check_warning(repository, origin)

    async def _discard(self, upload_id: str) -> None:
        await self.storage.delete(upload_dir(upload_id))
        await self.metadata.uploads.delete(upload_id)
        self._live.pop(upload_id, None)
        if self.quotas is not None:
            await self.quotas.release_upload(upload_id)


@contextlib.asynccontextmanager
async def _unlimited() -> AsyncIterator[Admit]:
    yield lambda body: body


def _range_error(offset: int) -> RegistryError:
    return RegistryError(
        ErrorCode.BLOB_UPLOAD_INVALID,
        f"chunk must start at the stored offset {offset}",
        detail={"offset": offset},
        status=416,
        headers={"Range": f"0-{max(offset - 1, 0)}"},
    )


def _digest_mismatch(expected: Digest, actual: str) -> RegistryError:
    return RegistryError(
        ErrorCode.DIGEST_INVALID,
        detail={"expected": expected.text, "actual": f"{expected.algorithm}:{actual}"},
    )


def _is_valid_name(name: str) -> bool:
    if len(name) > NAME_MAX_LENGTH:
        return False
    try:
        validate_name(name)
    except RegistryError:
        return False
    return True
