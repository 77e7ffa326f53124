"""Endpoints: what the web UI browses, for any client: repositories (searchable), a
repository's tags with digest, size, platforms and times, and one artifact in full (layers,
image configuration, platforms, referrers). Every list is a keyset page (``cursor``: the last
name of the previous page). Pull rights decide what is shown (``services/browse``)."""

from __future__ import annotations

from dockyard.api.mgmt.paging import PAGING_QUERY, paged
from dockyard.api.mgmt.router import Call, Endpoint, Reply
from dockyard.api.mgmt.schemas import Items
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.browse.model import ArtifactDetail, TagSummary
from dockyard.services.browse.service import BrowseService

REPOSITORY = ("repository", "string", "repository name (required)")


class Handlers:
    def __init__(self, service: BrowseService) -> None:
        self.service = service

    async def repositories(self, call: Call) -> Reply:
        page = await self.service.repositories(
            call.principal, query=call.query("q"), cursor=call.query("cursor"),
            limit=call.int_query("limit"),
        )  # fmt: skip
        return paged(call, page, str)

    async def tags(self, call: Call) -> Reply:
        page = await self.service.tags(
            call.principal, _required(call, "repository"), cursor=call.query("cursor"),
            limit=call.int_query("limit"), sort=call.query("sort") or "name",
        )  # fmt: skip
        return paged(call, page, lambda summary: summary)

    async def artifact(self, call: Call) -> Reply:
        repository, reference = _required(call, "repository"), _required(call, "reference")
        return Reply(200, await self.service.artifact(call.principal, repository, reference))

    def endpoints(self) -> list[Endpoint]:
        tag = "browse"
        return [
            Endpoint(
                "GET", "/repositories", self.repositories,
                "Repositories the caller may pull, in name order", tag,
                response=Items[str], public=True,
                query=(*PAGING_QUERY, ("q", "string", "only names containing this text")),
            ),
            Endpoint(
                "GET", "/tags", self.tags,
                "A repository's tags with digest, size, platforms, push and pull times", tag,
                response=Items[TagSummary], public=True,
                query=(REPOSITORY, *PAGING_QUERY, ("sort", "string", "name (default) or pushed: "
                       "newest first, by when the tag last moved")),
            ),
            Endpoint(
                "GET", "/artifact", self.artifact,
                "One tag or digest: layers, image configuration, platforms and referrers", tag,
                response=ArtifactDetail, public=True,
                query=(REPOSITORY, ("reference", "string", "a tag or a digest (required)")),
            ),
        ]  # fmt: skip


def _required(call: Call, name: str) -> str:
    value = call.query(name)
    if not value:
        raise RegistryError(ErrorCode.BAD_REQUEST, f"{name} is required")
    return value


def endpoints(service: BrowseService | None) -> list[Endpoint]:
    return Handlers(service).endpoints() if service is not None else []
