"""The copy of images from one end to the other, digests identical.

A tag is copied as its whole tree: an index's wanted children (all, or the platforms the
policy asks for: the index itself is copied byte for byte, so the target holds a sparse
index), each image's config and layers, then the manifests bottom-up (children by digest,
the tag last), then what refers to each copied manifest: OCI 1.1 referrers (signatures,
SBOMs, attestations with a ``subject``) and the cosign tag scheme
(``sha256-<hex>.sig``/``.att``/``.sbom``). Every manifest is checked against its digest
before it is written anywhere. Blobs the target has are skipped (``HEAD``), blobs it holds in
another repository of this run are cross-mounted, the rest are copied ``parallel`` at a time
(one semaphore for the whole run), each resumable (endpoints.py) and paced by the bandwidth
limit shared by the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dockyard.core.errors import RegistryError
from dockyard.core.manifest.parse import parse_manifest
from dockyard.core.mediatypes import INDEXES
from dockyard.services.replication.endpoints import CopyFailedError, Endpoint, Manifest
from dockyard.services.replication.filters import platform_wanted

# cosign's tags, and the OCI 1.1 referrers tag schema (``sha256-<hex>``: an index of referrers)
COSIGN_SUFFIXES = (".sig", ".att", ".sbom", "")
MAX_REFERRER_DEPTH = 3


class Bandwidth:
    """A shared pace for a run's blob bytes: ``rate`` bytes per second (0: no limit)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._free_at = time.monotonic()
        self._lock = asyncio.Lock()

    async def pace(self, size: int) -> None:
        if self.rate <= 0 or size <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._free_at)
            self._free_at = start + size / self.rate
        if start > now:
            await asyncio.sleep(start - now)


@dataclass(slots=True)
class Tally:
    """What one tag's copy did: bytes sent, manifests written, blobs skipped."""

    bytes: int = 0
    manifests: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0


@dataclass(slots=True)
class Copier:
    source: Endpoint
    target: Endpoint
    parallel: int = 4
    bandwidth: Bandwidth = field(default_factory=lambda: Bandwidth(0))
    platforms: Sequence[str] = ()
    source_tags: dict[str, set[str]] = field(default_factory=dict)
    _streams: asyncio.Semaphore = field(init=False)
    _placed: dict[str, str] = field(default_factory=dict)  # digest -> a target repository
    _flights: dict[tuple[str, str], asyncio.Task[tuple[int, bool]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._streams = asyncio.Semaphore(self.parallel)

    async def aclose(self) -> None:
        """Cancel the blob copies still in flight (a run stopped, or ended by an error)."""
        pending = [flight for flight in self._flights.values() if not flight.done()]
        for flight in pending:
            flight.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def copy_tag(self, src: str, dst: str, tag: str, manifest: Manifest) -> Tally:
        """Copy ``src:tag`` (already fetched and checked) to ``dst:tag`` with what refers to it."""
        tally = Tally()
        copied = await self._tree(src, dst, manifest, tally)
        await self._put(dst, tag, manifest, tally)
        await self._referrers(src, dst, copied, tally, depth=0)
        return tally

    async def referrers_only(self, src: str, dst: str, manifest: Manifest) -> Tally:
        """For a tag the target already has: the referrers added since (a reconcile)."""
        tally = Tally()
        digests = [manifest.digest, *await self._child_digests(src, manifest)]
        await self._referrers(src, dst, digests, tally, depth=0)
        return tally

    async def _child_digests(self, src: str, manifest: Manifest) -> list[str]:
        if manifest.media_type not in INDEXES:
            return []
        return [child.digest for child in _parsed(manifest).children]

    async def _tree(self, src: str, dst: str, manifest: Manifest, tally: Tally) -> list[str]:
        """Blobs and children of ``manifest`` at the target (not the manifest itself); the
        digests of the manifests copied, ``manifest`` first."""
        parsed = _parsed(manifest)
        copied = [manifest.digest]
        if manifest.media_type in INDEXES:
            wanted = _wanted_children(manifest, self.platforms)
            for child in parsed.children:
                if child.digest not in wanted:
                    continue
                fetched = await self.fetch(src, child.digest)
                copied += await self._tree(src, dst, fetched, tally)
                await self._put(dst, child.digest, fetched, tally)
        await asyncio.gather(*(self._blob(src, dst, b.digest, b.size, tally)
                               for b in parsed.blobs))  # fmt: skip
        return copied

    async def fetch(self, repository: str, reference: str) -> Manifest:
        """A manifest from the source, checked against its digest."""
        found = await self.source.manifest(repository, reference)
        if found is None:
            raise CopyFailedError(f"{repository}@{reference} is gone from the source")
        return checked(found, reference)

    async def _put(self, dst: str, reference: str, manifest: Manifest, tally: Tally) -> None:
        if await self.target.digest_of(dst, reference) == manifest.digest:
            return  # already there, byte for byte (the digest says so)
        await self.target.put_manifest(dst, reference, manifest)
        tally.manifests += 1

    async def _referrers(
        self, src: str, dst: str, digests: Sequence[str], tally: Tally, *, depth: int
    ) -> None:
        if depth >= MAX_REFERRER_DEPTH:
            return
        tags = self.source_tags.get(src, set())
        for digest in digests:
            for entry in await self.source.referrers(src, digest):
                referrer = await self.fetch(src, str(entry.get("digest", "")))
                nested = await self._tree(src, dst, referrer, tally)
                await self._put(dst, referrer.digest, referrer, tally)
                await self._referrers(src, dst, nested, tally, depth=depth + 1)
            hex_part = digest.partition(":")[2]
            for suffix in COSIGN_SUFFIXES:
                tag = f"sha256-{hex_part}{suffix}"
                if tag in tags:
                    signature = await self.fetch(src, tag)
                    nested = await self._tree(src, dst, signature, tally)
                    await self._put(dst, tag, signature, tally)
                    await self._referrers(src, dst, nested, tally, depth=depth + 1)

    async def _blob(self, src: str, dst: str, digest: str, size: int, tally: Tally) -> None:
        key = (dst, digest)
        flight = self._flights.get(key)
        if flight is None:  # one copy per target blob, whichever images share it
            flight = asyncio.ensure_future(self._copy_blob(src, dst, digest, size))
            self._flights[key] = flight
        sent, copied = await asyncio.shield(flight)
        tally.bytes += sent
        if copied:
            tally.blobs_copied += 1
        else:
            tally.blobs_skipped += 1

    async def _copy_blob(self, src: str, dst: str, digest: str, size: int) -> tuple[int, bool]:
        async with self._streams:
            if await self.target.has_blob(dst, digest):
                self._placed.setdefault(digest, dst)
                return 0, False
            other = self._placed.get(digest)
            if other is not None and other != dst and await self.target.mount(dst, digest, other):
                return 0, False

            def open_at(offset: int) -> Any:
                return self.source.read_blob(src, digest, offset)

            try:
                sent = await self.target.write_blob(dst, digest, size, open_at,
                                                    self.bandwidth.pace)  # fmt: skip
            except RegistryError as error:
                raise CopyFailedError(f"blob {digest}: {error.message}") from None
            self._placed[digest] = dst
            return sent, True


def checked(found: Manifest, reference: str) -> Manifest:
    """``found`` with its digest computed from its bytes; CopyFailedError when the bytes do
    not match the digest asked for or the one the peer announced."""
    digest = "sha256:" + hashlib.sha256(found.content).hexdigest()
    expected = reference if reference.startswith("sha256:") else found.digest
    if expected and expected.startswith("sha256:") and expected != digest:
        raise CopyFailedError(f"manifest {reference}: its bytes do not match {expected}")
    return Manifest(digest, found.media_type, found.content)


def _parsed(manifest: Manifest) -> Any:
    try:
        return parse_manifest(manifest.content, manifest.media_type)
    except RegistryError as error:
        raise CopyFailedError(f"manifest {manifest.digest}: {error.message}") from None


class _RawIndex(msgspec.Struct):
    manifests: list[dict[str, Any]] = msgspec.field(default_factory=list)


def _wanted_children(manifest: Manifest, platforms: Sequence[str]) -> set[str]:
    entries = msgspec.json.decode(manifest.content, type=_RawIndex).manifests
    return {str(e.get("digest")) for e in entries if platform_wanted(platforms, e)}
