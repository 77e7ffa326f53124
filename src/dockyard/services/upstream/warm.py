"""Pre-filling the pull-through cache: ``dockyard mirror warm REF...`` (job kind ``mirror.warm``).

A reference is ``repository:tag`` or ``repository@digest``, the repository as clients name it
here (under a cache prefix, or any name when the whole registry is a cache). Warming one pulls
it through the cache exactly as a client would, so the same single-flight downloads, digest
checks and storage are used: the manifest, then for an index every child manifest, then
every blob they name. Blobs already cached cost one lookup. A reference that is not a cache's,
or that the upstream does not have, is reported and the others still warm; the job fails
(and is retried by the queue) only when none could be warmed at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dockyard.auth.grants import SYSTEM
from dockyard.auth.principal import Principal
from dockyard.core.errors import RegistryError
from dockyard.core.manifest import parse_manifest
from dockyard.services.jobs.model import JobFailedError
from dockyard.services.upstream.blob_cache import LiveBlob, RelayedBlob
from dockyard.services.upstream.mirror import Mirror
from dockyard.services.upstream.routing import MirrorRouter

KIND = "mirror.warm"
MAX_REFERENCES = 100
MAX_CHILDREN = 64
WARMER = Principal("job:mirror.warm", identity=SYSTEM, client="local")
log = logging.getLogger("dockyard.mirror")
Resolve = Callable[[str], Awaitable[Mirror | None]]


@dataclass(frozen=True, slots=True)
class Reference:
    repository: str
    reference: str  # a tag or a digest

    @property
    def text(self) -> str:
        separator = "@" if ":" in self.reference else ":"
        return f"{self.repository}{separator}{self.reference}"


def parse_reference(text: str) -> Reference:
    """``repo:tag`` or ``repo@digest`` (ValueError otherwise); no registry host."""
    if "@" in text:
        repository, _, digest = text.partition("@")
        if repository and digest:
            return Reference(repository, digest)
    else:
        repository, colon, tag = text.rpartition(":")
        if colon and repository and tag and "/" not in tag:
            return Reference(repository, tag)
    raise ValueError(f'"{text[:200]}": expected REPOSITORY:TAG or REPOSITORY@DIGEST')


def resolver(mirrors: MirrorRouter | None, mirror: Mirror | None) -> Resolve:
    """The cache serving a repository: its prefix's (``mirrors``), else the whole registry's
    (``mirror``), else none."""

    async def resolve(repository: str) -> Mirror | None:
        if mirrors is not None:
            route = await mirrors.route(repository)
            if route is not None:
                return route.mirror
        return mirror

    return resolve


class CacheWarmer:
    def __init__(self, resolve: Resolve) -> None:
        self.resolve = resolve

    async def warm(self, references: Sequence[str]) -> str:
        """Warm each reference; a summary line. JobFailedError when none could be warmed."""
        done: list[str] = []
        failed: list[str] = []
        for text in references[:MAX_REFERENCES]:
            try:
                blobs = await self.warm_one(parse_reference(text))
            except (ValueError, RegistryError) as exc:
                reason = exc.message if isinstance(exc, RegistryError) else str(exc)
                failed.append(f"{text[:200]}: {reason}")
                log.warning("mirror warm: %s not warmed: %s", text[:200], reason)
                continue
            done.append(f"{text} ({blobs} blobs)")
        summary = f"warmed {len(done)} of {len(references)}: " + "; ".join(done + failed)
        if references and not done:
            raise JobFailedError(summary)
        return summary

    async def warm_one(self, ref: Reference) -> int:
        """Pull ``ref`` through its cache; the number of blobs it names."""
        mirror = await self.resolve(ref.repository)
        if mirror is None:
            raise ValueError("not under a cache prefix (dockyard mirror list)")
        proxied = await mirror.manifests.get(WARMER, ref.repository, ref.reference)
        parsed = parse_manifest(proxied.record.content, proxied.record.media_type)
        manifests = [parsed]
        for child in parsed.children[:MAX_CHILDREN]:
            got = await mirror.manifests.get(WARMER, ref.repository, child.digest)
            manifests.append(parse_manifest(got.record.content, got.record.media_type))
        digests = {blob.digest for manifest in manifests for blob in manifest.blobs}
        for digest in sorted(digests):
            await _fetch_blob(mirror, ref.repository, digest)
        return len(digests)


async def _fetch_blob(mirror: Mirror, repository: str, digest: str) -> None:
    """Pull one blob through the cache, reading a live download to its end."""
    answer = await mirror.blobs.get(WARMER, repository, digest, head=False, ranged="")
    if isinstance(answer, LiveBlob):
        try:
            async for _ in answer.reader.chunks():
                pass
        finally:
            answer.reader.release()
    elif isinstance(answer, RelayedBlob):  # pragma: no cover - only for HEAD and Range
        await answer.response.aclose()
