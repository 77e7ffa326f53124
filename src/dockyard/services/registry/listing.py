"""Catalog, tag lists and referrers, paginated by keyset on indexed names.

With identity management the catalog holds only what the caller may pull (``catalog.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.core import mediatypes as mt
from dockyard.core.digest import parse_digest
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import validate_name
from dockyard.persistence.stores import MetadataStore, RepositoryCatalog
from dockyard.services.registry.catalog import VisibleCatalog

CATALOG_DEFAULT_PAGE = 100
PAGE_MAX = 1000


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    next_last: str | None


class ListingService:
    def __init__(
        self,
        metadata: MetadataStore,
        policy: AccessPolicy,
        catalog: RepositoryCatalog | None = None,
    ) -> None:
        self.metadata = metadata
        self.policy = policy
        self.visible = VisibleCatalog(metadata, catalog)

    async def catalog(self, principal: Principal, n: int | None, last: str) -> Page:
        self.policy.require(principal, Action.CATALOG, None)
        limit = _clamp(n, CATALOG_DEFAULT_PAGE)
        if limit == 0:
            return Page([], None)
        visibility = self.policy.catalog_visibility(principal)
        names = await self.visible.names(visibility, last, limit + 1)
        return _page(names, limit)

    async def tags(self, principal: Principal, repository: str, n: int | None, last: str) -> Page:
        validate_name(repository)
        self.policy.require(principal, Action.PULL, repository)
        limit = _clamp(n, PAGE_MAX)
        tags = await self.metadata.list_tags(repository, last, limit + 1)
        if tags is None:
            raise RegistryError(ErrorCode.NAME_UNKNOWN, detail={"name": repository})
        if limit == 0:
            return Page([], None)
        return _page(tags, limit)

    async def referrers(
        self, principal: Principal, repository: str, subject: str, artifact_type: str | None
    ) -> bytes:
        """The referrers of ``subject`` as an OCI image index, serialized."""
        validate_name(repository)
        parse_digest(subject)
        self.policy.require(principal, Action.PULL, repository)
        records = await self.metadata.referrers(repository, subject, artifact_type)
        manifests = []
        for record in records:
            entry: dict[str, object] = {
                "mediaType": record.media_type,
                "digest": record.digest,
                "size": record.size,
            }
            if record.artifact_type:
                entry["artifactType"] = record.artifact_type
            if record.annotations_json:
                entry["annotations"] = msgspec.json.decode(record.annotations_json)
            manifests.append(entry)
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests}
        return msgspec.json.encode(index)


def _clamp(n: int | None, default: int) -> int:
    if n is None:
        return default
    if n < 0:
        raise RegistryError(ErrorCode.PAGINATION_NUMBER_INVALID, detail={"n": n})
    return min(n, PAGE_MAX)


def _page(items: list[str], limit: int) -> Page:
    if len(items) > limit:
        return Page(items[:limit], items[limit - 1])
    return Page(items, None)
