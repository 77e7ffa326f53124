"""The two ends of a copy, as the copier sees them, and the peer's end over HTTP.

An :class:`Endpoint` lists repositories and tags, reads and writes manifests (bytes exactly as
stored), answers whether it has a blob, streams a blob from an offset, and writes a blob from
a source that can be reopened at an offset (resuming an interrupted copy). This registry's end
is ``local.py``; :class:`RemoteEndpoint` is a peer registry through :class:`PeerClient`.

A blob pushed to a peer goes in chunks (``PATCH`` with ``Content-Range``); the upload's URL
is remembered in the database after each chunk, so a run killed half-way asks the peer where
its upload stands (``GET``, ``Range``) and sends only the rest. A peer that no longer knows
the upload (or refuses to resume it) gets a fresh one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import msgspec

from dockyard.core.mediatypes import SUPPORTED_MANIFESTS
from dockyard.persistence.replication_records import ReplicationStore
from dockyard.services.replication.peer import (
    CATALOG_SCOPE,
    PeerClient,
    delete_scope,
    pull_scope,
    push_scope,
)
from dockyard.services.upstream.client import MAX_ANSWER, UpstreamError

log = logging.getLogger("dockyard.replication")
CHUNK = 8 * 1024 * 1024  # bytes per PATCH: how much a crash can cost of a blob's upload
ACCEPT = ", ".join(sorted(SUPPORTED_MANIFESTS))
OpenAt = Callable[[int], AsyncIterator[bytes]]  # the source's bytes from an offset
Pace = Callable[[int], Awaitable[None]]  # waits as the bandwidth limit asks, per chunk


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    content: bytes


class CopyFailedError(Exception):
    """One item could not be copied; the message is what the run's history shows."""


class Endpoint(Protocol):
    name: str

    async def repositories(self) -> list[str]: ...
    async def tags(self, repository: str) -> list[str]: ...
    async def manifest(self, repository: str, reference: str) -> Manifest | None: ...
    async def digest_of(self, repository: str, reference: str) -> str | None: ...
    async def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None: ...
    async def delete_tag(self, repository: str, tag: str) -> bool: ...
    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]: ...
    async def has_blob(self, repository: str, digest: str) -> bool: ...
    async def mount(self, repository: str, digest: str, source: str) -> bool: ...
    def read_blob(self, repository: str, digest: str, offset: int) -> AsyncIterator[bytes]: ...
    async def write_blob(
        self, repository: str, digest: str, size: int, open_at: OpenAt, pace: Pace
    ) -> int:
        """Write the blob; the bytes sent (less than ``size`` when resumed)."""
        ...


class _Catalog(msgspec.Struct):
    repositories: list[str] | None = None


class _Tags(msgspec.Struct):
    tags: list[str] | None = None


class _Index(msgspec.Struct):
    manifests: list[dict[str, Any]] | None = None


class RemoteEndpoint:
    """A peer registry. ``policy_id`` keys the uploads remembered for resuming."""

    def __init__(
        self, client: PeerClient, store: ReplicationStore, policy_id: int, chunk: int = CHUNK
    ) -> None:
        self.client = client
        self.chunk = chunk
        self.store = store
        self.policy_id = policy_id
        self.name = client.config.name

    async def _json(self, path: str, scope: str, kind: type[Any]) -> Any:
        response = await self.client.call("GET", path, scope, ok=(200, 404))
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        if response.status_code == 404:
            return None
        if len(body) > MAX_ANSWER:
            raise CopyFailedError(f"{self.name}: answer too large")
        try:
            return msgspec.json.decode(body, type=kind)
        except msgspec.DecodeError:
            raise CopyFailedError(f"{self.name}: {path} is not the JSON expected") from None

    async def repositories(self) -> list[str]:
        names: list[str] = []
        last = ""
        while True:
            page = await self._json(f"/v2/_catalog?n=1000&last={last}", CATALOG_SCOPE, _Catalog)
            found = (page.repositories or []) if page is not None else []
            names += found
            if len(found) < 1000:
                return names
            last = found[-1]

    async def tags(self, repository: str) -> list[str]:
        found: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list?n=1000"
        while path:
            response = await self.client.call("GET", path, pull_scope(repository), ok=(200, 404))
            body = await response.aread()
            await response.aclose()
            if response.status_code == 404:
                return found
            try:
                found += msgspec.json.decode(body, type=_Tags).tags or []
            except msgspec.DecodeError:
                raise CopyFailedError(
                    f"{self.name}: the tag list of {repository} is not JSON"
                ) from None
            path = _next_link(response)
        return found

    async def manifest(self, repository: str, reference: str) -> Manifest | None:
        response = await self.client.call(
            "GET", f"/v2/{repository}/manifests/{reference}", pull_scope(repository),
            headers={"Accept": ACCEPT}, ok=(200, 404),
        )  # fmt: skip
        try:
            body = await _read_limited(response)
        finally:
            await response.aclose()
        if response.status_code == 404:
            return None
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        digest = response.headers.get("docker-content-digest", "")
        return Manifest(digest, media_type, body)

    async def digest_of(self, repository: str, reference: str) -> str | None:
        response = await self.client.call(
            "HEAD", f"/v2/{repository}/manifests/{reference}", pull_scope(repository),
            headers={"Accept": ACCEPT}, ok=(200, 404),
        )  # fmt: skip
        await response.aclose()
        if response.status_code == 404:
            return None
        found = response.headers.get("docker-content-digest")
        return str(found) if found else None

    async def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> None:
        response = await self.client.call(
            "PUT", f"/v2/{repository}/manifests/{reference}", push_scope(repository),
            headers={"Content-Type": manifest.media_type}, content=manifest.content, ok=(201,),
        )  # fmt: skip
        await _expect(response, 201, f"manifest {reference}")

    async def delete_tag(self, repository: str, tag: str) -> bool:
        digest = await self.digest_of(repository, tag)
        if digest is None:
            return False
        response = await self.client.call(
            "DELETE", f"/v2/{repository}/manifests/{digest}", delete_scope(repository),
            ok=(202, 404),
        )  # fmt: skip
        if response.status_code not in (202, 404):
            await _expect(response, 202, f"deleting {repository}:{tag}")
        await response.aclose()
        return response.status_code == 202

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        path = f"/v2/{repository}/referrers/{digest}"
        try:
            index = await self._json(path, pull_scope(repository), _Index)
        except CopyFailedError:
            return []  # a registry without the referrers API (registry:2 answers 404 anyway)
        return list(index.manifests or []) if index is not None else []

    async def has_blob(self, repository: str, digest: str) -> bool:
        response = await self.client.call(
            "HEAD", f"/v2/{repository}/blobs/{digest}", pull_scope(repository), ok=(200, 404)
        )
        await response.aclose()
        return response.status_code == 200

    async def mount(self, repository: str, digest: str, source: str) -> bool:
        response = await self.client.call(
            "POST", f"/v2/{repository}/blobs/uploads/?mount={digest}&from={source}",
            push_scope(repository), content=b"", ok=(201, 202),
        )  # fmt: skip
        await response.aclose()
        if response.status_code == 202:  # not mounted: an upload was opened instead; drop it
            location = response.headers.get("location")
            if location:
                await self._cancel(repository, location)
        return response.status_code == 201

    async def read_blob(self, repository: str, digest: str, offset: int) -> AsyncIterator[bytes]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = await self.client.call(
            "GET", f"/v2/{repository}/blobs/{digest}", pull_scope(repository),
            headers=headers, ok=(200, 206),
        )  # fmt: skip
        try:
            if offset and response.status_code != 206:
                raise CopyFailedError(f"{self.name} cannot resume {digest} (no Range support)")
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as exc:
            raise CopyFailedError(f"{self.name}: reading {digest} failed: {exc}") from None
        finally:
            await response.aclose()

    async def write_blob(
        self, repository: str, digest: str, size: int, open_at: OpenAt, pace: Pace
    ) -> int:
        location, offset = await self._resumable(repository, digest)
        if location is None:
            location, offset = await self._start(repository, digest), 0
        sent = 0
        if offset < size:
            chunks = open_at(offset)
            async for piece in _pieces(chunks, self.chunk):
                await pace(len(piece))
                location = await self._patch(repository, location, piece, offset)
                offset += len(piece)
                sent += len(piece)
                await self.store.remember_upload(self.policy_id, repository, digest, location,
                                                 time.time())  # fmt: skip
        await self._finish(repository, location, digest)
        await self.store.forget_upload(self.policy_id, repository, digest)
        return sent

    async def _resumable(self, repository: str, digest: str) -> tuple[str | None, int]:
        location = await self.store.upload(self.policy_id, repository, digest)
        if location is None:
            return None, 0
        try:
            response = await self.client.call("GET", location, push_scope(repository),
                                              ok=(204, 404, 400))  # fmt: skip
        except UpstreamError:
            return None, 0
        await response.aclose()
        if response.status_code != 204:
            return None, 0
        end = response.headers.get("range", "0-0").rpartition("-")[2]
        offset = int(end) + 1 if end.isdigit() else 0
        log.info("resuming the upload of %s to %s at byte %d", digest, self.name, offset)
        return str(response.headers.get("location") or location), offset

    async def _start(self, repository: str, digest: str) -> str:
        response = await self.client.call(
            "POST", f"/v2/{repository}/blobs/uploads/", push_scope(repository), content=b"",
            ok=(202,),
        )  # fmt: skip
        await _expect(response, 202, f"starting the upload of {digest}")
        location = str(response.headers.get("location", ""))
        if not location:
            raise CopyFailedError(f"{self.name} gave no upload location")
        await self.store.remember_upload(self.policy_id, repository, digest, location,
                                         time.time())  # fmt: skip
        return location

    async def _patch(self, repository: str, location: str, piece: bytes, offset: int) -> str:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(piece) - 1}",
        }
        response = await self.client.call("PATCH", location, push_scope(repository),
                                          headers=headers, content=piece, ok=(202,))  # fmt: skip
        await _expect(response, 202, "a chunk")
        return str(response.headers.get("location") or location)

    async def _finish(self, repository: str, location: str, digest: str) -> None:
        separator = "&" if "?" in location else "?"
        response = await self.client.call(
            "PUT", f"{location}{separator}digest={digest}", push_scope(repository),
            content=b"", ok=(201,),
        )  # fmt: skip
        await _expect(response, 201, f"finishing {digest}")

    async def _cancel(self, repository: str, location: str) -> None:
        try:
            response = await self.client.call("DELETE", location, push_scope(repository),
                                              ok=(204, 404))  # fmt: skip
            await response.aclose()
        except UpstreamError:
            pass


async def _pieces(chunks: AsyncIterator[bytes], size: int) -> AsyncIterator[bytes]:
    """Re-cut a stream into pieces of ``size`` bytes (the last one shorter)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


async def _read_limited(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_ANSWER:
            raise CopyFailedError("a manifest larger than 4 MiB")
    return bytes(body)


async def _expect(response: httpx.Response, status: int, what: str) -> None:
    try:
        if response.status_code != status:
            text = (await response.aread())[:300].decode(errors="replace")
            raise CopyFailedError(f"{what}: the peer answered {response.status_code} {text}")
    finally:
        await response.aclose()


def _next_link(response: httpx.Response) -> str | None:
    link = str(response.headers.get("link", ""))
    if not link.startswith("<"):
        return None
    return link[1 : link.index(">")]
