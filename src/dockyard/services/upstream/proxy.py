"""The pull-through cache: manifests, tags, tag lists and referrers of one upstream registry.

A manifest by digest is fetched once, checked against its digest and stored byte for byte
(Docker media types stay as they are; an index is stored as it is and its children are
fetched when a client asks for them). A tag is confirmed with the upstream by HEAD when it is
older than ``tagttl`` (0: every time, as registry:2) and fetched again only when its digest
changed. When the upstream cannot be reached (or throttles), a tag confirmed within the
staleness window is served as last known, with a ``Warning``; without cached content the
client gets 503 (or 429 with ``Retry-After``). Blobs are :mod:`blob_cache`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import msgspec

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core import mediatypes as mt
from dockyard.core.digest import digest_of, parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.manifest import parse_manifest
from dockyard.core.reference import validate_name
from dockyard.persistence.records import ManifestRecord
from dockyard.persistence.stores import MetadataStore
from dockyard.services.registry.listing import ListingService, Page
from dockyard.services.registry.manifests import is_digest_reference, new_manifest, require_possible
from dockyard.services.telemetry import Telemetry
from dockyard.services.upstream.client import (
    UpstreamClient,
    UpstreamError,
    UpstreamThrottledError,
    UpstreamUnavailableError,
)
from dockyard.services.upstream.errors import bad_content, error_kind, registry_error
from dockyard.services.upstream.tags import TagChecks

ACCEPT = ", ".join(
    [mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST, "*/*;q=0.1"]
)
STALE_WARNING = '110 - "Response is Stale: the upstream registry cannot be reached"'
log = logging.getLogger("dockyard.mirror")


@dataclass(frozen=True, slots=True)
class MirrorOptions:
    tag_ttl: float = 0.0
    staleness: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Proxied:
    """A manifest answer; ``warning`` set when it is stale (the upstream is down)."""

    record: ManifestRecord
    warning: str = ""


@dataclass(frozen=True, slots=True)
class ProxiedPage:
    page: Page
    warning: str = ""


class MirrorManifests:
    def __init__(
        self,
        upstream: UpstreamClient,
        *,
        metadata: MetadataStore,
        policy: AccessPolicy,
        listing: ListingService,
        telemetry: Telemetry,
        options: MirrorOptions,
        tags: TagChecks,
        remote: Callable[[str], str] = str,
    ) -> None:
        self.upstream = upstream
        self.metadata = metadata
        self.policy = policy
        self.listing = listing
        self.telemetry = telemetry
        self.options = options
        self.tags = tags
        self.label = upstream.config.name
        self.remote = remote  # the upstream's name for a local repository

    # manifests ---------------------------------------------------------------------------

    async def get(self, principal: Principal, repository: str, reference: str) -> Proxied:
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        require_possible(reference)
        if is_digest_reference(reference):
            return Proxied(await self._by_digest(repository, reference))
        return await self._by_tag(repository, reference)

    async def _by_digest(self, repository: str, digest: str) -> ManifestRecord:
        local = await self.metadata.manifest_by_digest(repository, digest)
        if local is not None:
            self._count("mirror_hits", "manifest")
            return local
        self._count("mirror_misses", "manifest")
        response = await self._call("GET", f"manifests/{digest}", repository)
        if response.status_code != 200:
            raise _unknown_manifest(digest)
        return await self._store(repository, response, digest, ())

    async def _by_tag(self, repository: str, tag: str) -> Proxied:
        local = await self.metadata.manifest_by_tag(repository, tag)
        age = await self.tags.age(repository, tag, local.digest) if local else None
        if local is not None and age is not None and age < self.options.tag_ttl:
            self._count("mirror_hits", "manifest")
            return Proxied(local)
        try:
            current = await self._upstream_digest(repository, tag)
        except UpstreamError as error:
            return self._stale_or_raise(repository, tag, local, age, error)
        if local is not None and current == local.digest:
            await self.tags.confirmed(repository, tag, local.digest)
            self._count("mirror_hits", "manifest")
            return Proxied(local)
        known = await self.metadata.manifest_by_digest(repository, current) if current else None
        if known is not None:  # the tag moved to a manifest cached already: only re-tag
            await self._record(repository, known.content, known.media_type, known.digest, (tag,))
            await self.tags.confirmed(repository, tag, known.digest)
            self._count("mirror_hits", "manifest")
            return Proxied(known)
        self._count("mirror_misses", "manifest")
        response = await self._call("GET", f"manifests/{current or tag}", repository)
        if response.status_code != 200:
            raise _unknown_manifest(tag)
        record = await self._store(repository, response, current, (tag,))
        await self.tags.confirmed(repository, tag, record.digest)
        return Proxied(record)

    async def _upstream_digest(self, repository: str, tag: str) -> str:
        """The digest the upstream's tag names now ("" when its HEAD does not say);
        MANIFEST_UNKNOWN when the upstream has no such tag."""
        response = await self._fetch("HEAD", f"manifests/{tag}", repository, {"Accept": ACCEPT})
        if response.status_code == 404:
            raise _unknown_manifest(tag)
        if response.status_code != 200:
            raise UpstreamUnavailableError(f"HEAD of a tag answered {response.status_code}")
        digest = response.headers.get("docker-content-digest", "")
        return digest if _is_digest(digest) else ""

    def _stale_or_raise(
        self,
        repository: str,
        tag: str,
        local: ManifestRecord | None,
        age: float | None,
        error: UpstreamError,
    ) -> Proxied:
        self._error(error)
        trouble = isinstance(error, UpstreamUnavailableError | UpstreamThrottledError)
        if local is None or age is None or age > self.options.staleness or not trouble:
            raise registry_error(error) from None
        self._count("mirror_stale", "manifest")
        log.warning(
            "upstream %s unavailable (%s): serving %s:%s as last confirmed %.0f s ago",
            self.label, error, repository, tag, age,
        )  # fmt: skip
        return Proxied(local, STALE_WARNING)

    async def _store(
        self, repository: str, response: httpx.Response, expected: str, tags: tuple[str, ...]
    ) -> ManifestRecord:
        """Check the body against ``expected`` (or the upstream's digest header), store it
        byte for byte with its tags, references optional; return what was stored."""
        body = response.content
        claimed = expected or response.headers.get("docker-content-digest", "")
        claimed = claimed if _is_digest(claimed) else ""
        algorithm = parse_digest(claimed).algorithm if claimed else "sha256"
        digest = digest_of(body, algorithm).text
        if claimed and digest != claimed:
            self.telemetry.count("mirror_errors", upstream=self.label, kind="digest")
            raise bad_content("manifest", claimed)
        self.telemetry.count("mirror_bytes_fetched", len(body), upstream=self.label)
        media_type = response.headers.get("content-type", "")
        try:
            return await self._record(repository, body, media_type, digest, tags)
        except RegistryError as error:
            if error.code is not ErrorCode.MANIFEST_INVALID:
                raise
            reason = error.message
        # a manifest dockyard cannot parse (schema 1, an unknown type): passed on, not cached
        self.telemetry.count("mirror_errors", upstream=self.label, kind="unparsed")
        log.warning("manifest %s from %s passed on uncached: %s", digest, self.label, reason)
        return ManifestRecord(digest, media_type or mt.OCI_MANIFEST, body)

    async def _record(
        self, repository: str, body: bytes, media_type: str, digest: str, tags: tuple[str, ...]
    ) -> ManifestRecord:
        """Store ``body`` verbatim under ``digest`` with ``tags`` (its references need not
        be cached yet: blobs and children come when clients ask for them)."""
        parsed = parse_manifest(body, media_type)
        new = replace(new_manifest(digest, body, parsed, tags), references_optional=True)
        await self.metadata.put_manifest(repository, new)
        return ManifestRecord(digest, parsed.media_type, body, new.artifact_type, new.subject)

    # tag lists and referrers ---------------------------------------------------------------

    async def tag_list(
        self, principal: Principal, repository: str, n: int | None, last: str
    ) -> ProxiedPage:
        """The upstream's tag list (paginated as it paginates); the cached tags when it is
        down."""
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        query = {key: value for key, value in (("n", n), ("last", last)) if value not in (None, "")}
        path = "tags/list" + (f"?{urlencode(query)}" if query else "")
        try:
            response = await self._fetch("GET", path, repository)
        except UpstreamError as error:
            self._error(error)
            if isinstance(error, UpstreamUnavailableError | UpstreamThrottledError):
                page = await self.listing.tags(principal, repository, n, last)
                return ProxiedPage(page, STALE_WARNING)
            raise registry_error(error) from None
        if response.status_code == 404:
            raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": repository})
        return ProxiedPage(Page(_tags_of(response), _next_last(response)))

    async def referrers(
        self, principal: Principal, repository: str, subject: str, artifact_type: str | None
    ) -> bytes:
        """The upstream's referrers index when it offers the API; else the cached ones."""
        validate_name(repository)
        parse_digest(subject)
        self.policy.require(principal, Action.PULL, repository)
        query = f"?{urlencode({'artifactType': artifact_type})}" if artifact_type else ""
        try:
            response = await self._fetch("GET", f"referrers/{subject}{query}", repository)
        except UpstreamError as error:
            self._error(error)
            response = None
        if response is not None and response.status_code == 200 and _is_index(response):
            return response.content
        return await self.listing.referrers(principal, repository, subject, artifact_type)

    # helpers -------------------------------------------------------------------------------

    async def _fetch(
        self, method: str, suffix: str, repository: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """``method /v2/<the upstream's name for repository>/<suffix>``."""
        remote = self.remote(repository)
        return await self.upstream.fetch(method, f"/v2/{remote}/{suffix}", remote, headers)

    async def _call(self, method: str, suffix: str, repository: str) -> httpx.Response:
        try:
            return await self._fetch(method, suffix, repository, {"Accept": ACCEPT})
        except UpstreamError as error:
            self._error(error)
            raise registry_error(error) from None

    def _count(self, name: str, what: str) -> None:
        self.telemetry.count(name, upstream=self.label, kind=what)

    def _error(self, error: UpstreamError) -> None:
        self.telemetry.count("mirror_errors", upstream=self.label, kind=error_kind(error))


class _TagList(msgspec.Struct):
    tags: list[str] | None = None


def _tags_of(response: httpx.Response) -> list[str]:
    try:
        return msgspec.json.decode(response.content, type=_TagList).tags or []
    except msgspec.DecodeError:
        message = "the upstream sent an invalid tag list"
        raise RegistryError(ErrorCode.UNAVAILABLE, message) from None


def _next_last(response: httpx.Response) -> str | None:
    """``last`` of the upstream's ``Link: <...?last=x>; rel="next"``, if it has one."""
    link = response.headers.get("link", "")
    if 'rel="next"' not in link or "<" not in link:
        return None
    target = link.split("<", 1)[1].split(">", 1)[0]
    values = parse_qs(urlsplit(target).query).get("last")
    return values[0] if values else None


def _is_index(response: httpx.Response) -> bool:
    content_type = str(response.headers.get("content-type", ""))
    return content_type.split(";", maxsplit=1)[0].strip() == mt.OCI_INDEX


def _is_digest(text: str) -> bool:
    try:
        parse_digest(text)
    except RegistryError:
        return False
    return True


def _unknown_manifest(reference: str) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": reference[:200]})
