"""BrowseService: repositories, tag pages and artifact details a caller may pull.

Pages are keyset pages (``cursor`` is the last name of the previous page): a repository of
100,000 tags costs one indexed query per page. Viewing is not pulling: nothing here records a
pull time or a ``manifest.pulled`` event.
"""

from __future__ import annotations

import math
from typing import Protocol

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.manifest.model import ParsedManifest
from dockyard.core.reference import validate_name
from dockyard.persistence.records import ManifestRecord, TagDetail
from dockyard.persistence.stores import MetadataStore
from dockyard.services.browse.model import ArtifactDetail, ImageConfig, Platform, TagSummary
from dockyard.services.browse.summary import (
    CONFIG_LIMIT,
    image_config,
    layers_of,
    own_size,
    parsed,
    platform_name,
    referrer_of,
)
from dockyard.services.identity.common import Page, bad_request, clamp, page_of
from dockyard.services.registry.blobs import BlobService
from dockyard.services.registry.catalog import VisibleCatalog
from dockyard.services.registry.manifests import is_digest_reference

SEARCH_BATCH = 500
SEARCH_BATCHES = 20  # names examined per search page at most: 10,000, then a next cursor
CHILDREN_MAX = 64  # child manifests of an index read to size it
TAGS_SHOWN = 50
TAG_SORTS = ("name", "pushed")


class BrowseStore(Protocol):
    async def tag_page(self, repository: str, after: str, limit: int) -> list[TagDetail] | None: ...
    async def tag_page_by_push(
        self, repository: str, after: tuple[float, str] | None, limit: int
    ) -> list[TagDetail] | None: ...
    async def manifest_times(
        self, repository: str, digest: str
    ) -> tuple[float, float | None] | None: ...
    async def tags_of(self, repository: str, digest: str, limit: int) -> list[str]: ...
    async def repositories_like(self, after: str, limit: int, text: str) -> list[str]: ...


class BrowseService:
    def __init__(
        self,
        metadata: MetadataStore,
        store: BrowseStore,
        policy: AccessPolicy,
        blobs: BlobService,
        catalog: VisibleCatalog,
    ) -> None:
        self.metadata = metadata
        self.store = store
        self.policy = policy
        self.blobs = blobs
        self.catalog = catalog

    async def repositories(
        self, principal: Principal, *, query: str = "", cursor: str = "",
        limit: int | None = None,
    ) -> Page[str]:  # fmt: skip
        """Repository names the caller may pull, in name order, containing ``query``."""
        self.policy.require(principal, Action.CATALOG, None)
        size = clamp(limit)
        visibility = self.policy.catalog_visibility(principal)
        if not query:
            names = await self.catalog.names(visibility, cursor, size + 1)
            return page_of(names, size, str)
        found: list[str] = []
        after = cursor
        for _ in range(SEARCH_BATCHES):
            batch = await self.store.repositories_like(after, SEARCH_BATCH, query)
            found += [name for name in batch if visibility.covers(name)]
            if len(found) > size or len(batch) < SEARCH_BATCH:
                return page_of(found[: size + 1], size, str)
            after = batch[-1]
        return Page(found, after)  # more may match: the next page goes on from here

    async def tags(
        self, principal: Principal, repository: str, *, cursor: str = "",
        limit: int | None = None, sort: str = "name",
    ) -> Page[TagSummary]:  # fmt: skip
        """A page of tags: by name, or newest first (``sort="pushed"``: when the tag last
        moved). ``cursor`` is the previous page's ``next``."""
        validate_name(repository)
        if sort not in TAG_SORTS:
            raise bad_request("sort must be name or pushed", sort=sort[:20])
        self.policy.require(principal, Action.PULL, repository)
        size = clamp(limit)
        if sort == "pushed":
            after = _push_cursor(cursor)
            rows = await self.store.tag_page_by_push(repository, after, size + 1)
        else:
            rows = await self.store.tag_page(repository, cursor, size + 1)
        if rows is None:
            raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": repository})
        summaries = [await self._summary(repository, row) for row in rows]
        if sort == "pushed":
            return page_of(summaries, size, lambda s: f"{s.tagged_at!r}|{s.tag}")
        return page_of(summaries, size, lambda summary: summary.tag)

    async def _summary(self, repository: str, row: TagDetail) -> TagSummary:
        manifest = parsed(row.content, row.media_type)
        platforms: list[str] = []
        size = own_size(manifest, row.content)
        if manifest is not None and manifest.children:
            children = await self._platforms(repository, manifest)
            platforms = [child.platform for child in children]
            size = len(row.content) + sum(child.size for child in children)
        return TagSummary(
            row.tag, row.digest, row.media_type, row.artifact_type, size, platforms,
            row.tagged_at, row.pushed_at, row.pulled_at,
        )  # fmt: skip

    async def _platforms(self, repository: str, index: ParsedManifest) -> list[Platform]:
        found: list[Platform] = []
        for number, child in enumerate(index.children):
            size = child.size
            if number < CHILDREN_MAX:
                record = await self.metadata.manifest_by_digest(repository, child.digest)
                if record is not None:
                    size = own_size(parsed(record.content, record.media_type), record.content)
            found.append(Platform(platform_name(child.platform), child.digest, size,
                                  child.mediaType))  # fmt: skip
        return found

    async def artifact(
        self, principal: Principal, repository: str, reference: str
    ) -> ArtifactDetail:
        """One tag or digest in full."""
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        record = await self._manifest(repository, reference)
        manifest = parsed(record.content, record.media_type)
        times = await self.store.manifest_times(repository, record.digest)
        config, note = await self._config(principal, repository, manifest)
        platforms = await self._platforms(repository, manifest) if manifest else []
        size = own_size(manifest, record.content)
        if platforms:
            size = len(record.content) + sum(child.size for child in platforms)
        referrers = await self.metadata.referrers(repository, record.digest, None)
        return ArtifactDetail(
            repository=repository,
            digest=record.digest,
            media_type=record.media_type,
            artifact_type=record.artifact_type,
            manifest_size=len(record.content),
            size=size,
            tags=await self.store.tags_of(repository, record.digest, TAGS_SHOWN),
            pushed_at=times[0] if times else None,
            pulled_at=times[1] if times else None,
            annotations=dict(manifest.annotations) if manifest else {},
            subject=record.subject,
            layers=layers_of(manifest) if manifest and not manifest.children else [],
            platforms=platforms,
            config=config,
            config_note=note,
            referrers=[referrer_of(found) for found in referrers],
        )

    async def _manifest(self, repository: str, reference: str) -> ManifestRecord:
        if is_digest_reference(reference):
            parse_digest(reference)
            record = await self.metadata.manifest_by_digest(repository, reference)
        else:
            record = await self.metadata.manifest_by_tag(repository, reference)
        if record is None:
            raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": reference[:200]})
        return record

    async def _config(
        self, principal: Principal, repository: str, manifest: ParsedManifest | None
    ) -> tuple[ImageConfig | None, str]:
        if manifest is None or manifest.children or not manifest.blobs:
            return None, ""
        descriptor = manifest.blobs[0]
        if descriptor.size > CONFIG_LIMIT:
            return None, "the configuration is too large to show"
        try:
            handle = await self.blobs.stat(principal, repository, descriptor.digest)
            raw = handle.inline
            if raw is None and handle.size <= CONFIG_LIMIT:
                raw = b"".join([chunk async for chunk in self.blobs.read(handle, 0, handle.size)])
        except RegistryError:
            return None, "the configuration blob is not in this repository"
        config = image_config(raw) if raw is not None else None
        return config, "" if config is not None else "the configuration is not an image's"


def _push_cursor(cursor: str) -> tuple[float, str] | None:
    """``"<tagged_at>|<tag>"`` of a newest-first page; None for the first page."""
    if not cursor:
        return None
    moment, bar, tag = cursor.partition("|")
    try:
        value = float(moment)
    except ValueError:
        value = math.nan
    if not bar or not math.isfinite(value):
        raise bad_request("invalid cursor", cursor=cursor[:60])
    return value, tag
