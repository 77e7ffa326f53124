"""Blobs of the pull-through cache: served from storage once cached, else fetched ONCE.

A miss opens one upstream GET and starts a :class:`~.flight.Flight`: a background task that
writes the bytes to a spool (read by every waiting client), hashes them inline, and stores
them through the normal upload path (a private upload file, then published by
:class:`~dockyard.services.registry.blob_publishing.BlobPublisher` only once the digest matched).
Every other request for the same blob in this process while it runs joins the same flight,
and so does a request that arrives while the upstream's answer is awaited: one upstream
request for N concurrent clients. A Range request on a miss is forwarded as it is (206,
nothing cached, no second full download); HEAD on a miss is forwarded too. Wrong or
truncated upstream bytes are never published, and every reader's connection is aborted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from dockyard.auth.principal import Principal
from dockyard.core.digest import Digest, new_hasher, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry.blob_publishing import BlobPublisher
from dockyard.services.registry.blobs import BlobHandle, BlobService
from dockyard.services.telemetry import Telemetry
from dockyard.services.upstream.client import UpstreamClient, UpstreamError
from dockyard.services.upstream.errors import error_kind, registry_error
from dockyard.services.upstream.flight import Flight, FlightReader
from dockyard.storage.driver import FileWriter, StorageDriver
from dockyard.storage.layout import upload_dir, upload_path

WRITE_BATCH = 1024 * 1024  # storage writes gather the network's small chunks
log = logging.getLogger("dockyard.mirror")


@dataclass(frozen=True, slots=True)
class CachedBlob:
    handle: BlobHandle


@dataclass(frozen=True, slots=True)
class LiveBlob:
    """A blob being fetched: read ``reader`` (then release it); ``size`` None when unknown."""

    reader: FlightReader
    digest: str
    size: int | None


@dataclass(frozen=True, slots=True)
class RelayedBlob:
    """An upstream answer passed through (HEAD, or a Range request's 206); close it."""

    response: httpx.Response
    digest: str


BlobAnswer = CachedBlob | LiveBlob | RelayedBlob


class MirrorBlobs:
    def __init__(
        self,
        upstream: UpstreamClient,
        blobs: BlobService,
        storage: StorageDriver,
        publisher: BlobPublisher,
        telemetry: Telemetry,
        *,
        spool_dir: str | None = None,
        remote: Callable[[str], str] = str,
    ) -> None:
        self.upstream = upstream
        self.blobs = blobs
        self.storage = storage
        self.publisher = publisher
        self.telemetry = telemetry
        self.spool_dir = spool_dir
        self.label = upstream.config.name
        self.remote = remote  # the upstream's name for a local repository
        self._flights: dict[tuple[str, str], asyncio.Future[Flight]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(
        self, principal: Principal, repository: str, digest: str, *, head: bool, ranged: str
    ) -> BlobAnswer:
        """The blob from storage, a live download, or a relayed upstream answer; ``ranged``
        is the client's Range header ("" for none)."""
        try:
            handle = await self.blobs.stat(principal, repository, digest)
        except RegistryError as error:
            if error.code is not ErrorCode.BLOB_UNKNOWN:
                raise
        else:
            self._count("mirror_hits")
            return CachedBlob(handle)
        parsed = parse_digest(digest)
        waiting = self._flights.get((repository, digest))
        if waiting is not None:
            flight = await asyncio.shield(waiting)
            if not flight.joinable:  # it ended meanwhile: the blob is stored now (or not)
                return await self.get(principal, repository, digest, head=head, ranged=ranged)
            self._count("mirror_coalesced")
            return LiveBlob(flight.join(), digest, flight.size)
        if head or ranged:
            return await self._relay(repository, parsed, head, ranged)
        return await self._start(repository, parsed, None)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, repository: str, digest: Digest, head: bool, ranged: str) -> BlobAnswer:
        headers = {} if head else {"Range": ranged}
        response = await self._open("HEAD" if head else "GET", repository, digest, headers)
        if response.status_code == 200 and not head:  # the upstream ignored the Range
            return await self._start(repository, digest, response)
        self._count("mirror_misses")
        return RelayedBlob(response, digest.text)

    async def _start(
        self, repository: str, digest: Digest, opened: httpx.Response | None
    ) -> LiveBlob:
        """Open the upstream GET (unless ``opened``) and start the one flight for the blob;
        requests for it that arrive meanwhile wait on the same future."""
        key = (repository, digest.text)
        future: asyncio.Future[Flight] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        response = opened
        try:
            response = response or await self._open("GET", repository, digest, {})
            size = _length(response)
            flight = Flight(digest.text, size, spool_dir=self.spool_dir)
        except BaseException as error:
            self._flights.pop(key, None)
            if isinstance(error, Exception):  # the waiting requests fail the same way
                future.set_exception(error)
                future.exception()  # retrieved: nobody need wait on it
            else:
                future.cancel()
            if response is not None:
                await response.aclose()
            raise
        self._count("mirror_misses")
        future.set_result(flight)
        reader = flight.join()
        task = asyncio.create_task(self._download(key, flight, response, digest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return LiveBlob(reader, digest.text, size)

    async def _open(
        self, method: str, repository: str, digest: Digest, headers: dict[str, str]
    ) -> httpx.Response:
        try:
            remote = self.remote(repository)
            response = await self.upstream.open(
                method, f"/v2/{remote}/blobs/{digest.text}", remote, headers
            )
        except UpstreamError as error:
            self.telemetry.count("mirror_errors", upstream=self.label, kind=error_kind(error))
            raise registry_error(error) from None
        if response.status_code not in (200, 206):
            await response.aclose()
            raise RegistryError(ErrorCode.BLOB_UNKNOWN, detail={"digest": digest.text})
        return response

    async def _download(
        self, key: tuple[str, str], flight: Flight, response: httpx.Response, digest: Digest
    ) -> None:
        upload_id = secrets.token_urlsafe(24)
        try:
            size = await self._store(flight, response, digest, upload_id)
            await self._publish(upload_id, key[0], digest, size)
            flight.verified()  # the readers' last byte: the blob is stored by now
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            flight.failed(reason)
            self.telemetry.count("mirror_errors", upstream=self.label, kind="blob")
            log.warning("blob %s from %s not cached: %s", digest.text, self.label, reason)
        finally:
            self._flights.pop(key, None)
            flight.finish()  # together with the pop: no reader joins after this
            await response.aclose()
            await self.storage.delete(upload_dir(upload_id))

    async def _publish(self, upload_id: str, repository: str, digest: Digest, size: int) -> None:
        """Publish the verified bytes; a failure here (garbage collection busy with the same
        content) loses only the caching, never the clients' answer: the bytes are right."""
        try:
            await self.publisher.moved(upload_path(upload_id), repository, digest, size)
        except Exception as exc:  # logged; the next request fetches it again
            log.warning("blob %s verified but not cached: %s", digest.text, exc)

    async def _store(
        self, flight: Flight, response: httpx.Response, digest: Digest, upload_id: str
    ) -> int:
        """Spool, hash and write the upstream's bytes; the size, once they verified.

        The network's small chunks are gathered into batches of ``WRITE_BATCH``; each batch is
        hashed and spooled on a worker thread while it is written to storage (hashlib and
        the writes release the GIL) and while the next batch is received: one batch in
        flight, so the event loop keeps receiving and serving readers.
        """
        hasher = new_hasher(digest.algorithm)
        writer = await self.storage.writer(upload_path(upload_id), append=False)
        absorbing: asyncio.Task[int] | None = None  # the previous batch, still being written
        try:
            pending: list[bytes] = []
            gathered = received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if flight.size is not None and received > flight.size:
                    raise ValueError(f"the upstream sent more than the {flight.size} bytes")
                pending.append(chunk)
                gathered += len(chunk)
                if gathered >= WRITE_BATCH:
                    await self._absorbed(absorbing)
                    absorbing = asyncio.ensure_future(_absorb(flight, hasher, writer, pending))
                    pending, gathered = [], 0
            await self._absorbed(absorbing)
            absorbing = None
            await self._absorbed(asyncio.ensure_future(_absorb(flight, hasher, writer, pending)))
            await writer.flush()
        finally:
            if absorbing is not None and not absorbing.done():
                absorbing.cancel()
                await asyncio.gather(absorbing, return_exceptions=True)
            await writer.close()
        if flight.size is not None and flight.written != flight.size:
            raise ValueError(f"truncated: {flight.written} of {flight.size} bytes")
        if hasher.hexdigest() != digest.hex:
            raise ValueError("the bytes do not match the digest")
        return flight.written

    async def _absorbed(self, absorbing: asyncio.Task[int] | None) -> None:
        """Wait for a batch being hashed, spooled and written; count its bytes."""
        if absorbing is not None:
            size = await absorbing
            self.telemetry.count("mirror_bytes_fetched", size, upstream=self.label)

    def _count(self, name: str) -> None:
        self.telemetry.count(name, upstream=self.label, kind="blob")


async def _absorb(flight: Flight, hasher: Any, writer: FileWriter, pending: list[bytes]) -> int:
    """Hash and spool one batch on a worker thread while storage writes it; then show it to
    the readers."""
    if not pending:
        return 0
    data = pending[0] if len(pending) == 1 else b"".join(pending)

    def hash_and_spool() -> None:
        hasher.update(data)
        flight.spool(data)

    await asyncio.gather(asyncio.to_thread(hash_and_spool), writer.write(data))
    flight.advance(len(data))
    return len(data)


def _length(response: httpx.Response) -> int | None:
    text = response.headers.get("content-length", "")
    return int(text) if text.isdigit() else None
