"""``/v2/``, ``_catalog``, ``tags/list`` and the referrers API."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec

from dockyard.api.context import Context
from dockyard.api.http import Headers, respond
from dockyard.api.v2.mirror_route import mirror_for
from dockyard.core import mediatypes as mt
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry.listing import Page

JSON = (b"content-type", b"application/json; charset=utf-8")


async def base(ctx: Context, params: dict[str, str]) -> None:
    headers = ctx.base_headers()
    headers.append(JSON)
    await respond(ctx.send, 200, headers, b"" if ctx.request.method == "HEAD" else b"{}")


def _page_size(ctx: Context) -> int | None:
    raw = ctx.request.param("n")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise RegistryError(ErrorCode.PAGINATION_NUMBER_INVALID, detail={"n": raw[:40]})
    return min(int(raw), 1 << 31)


def _link(ctx: Context, path: str, page: Page, n: int | None) -> Headers:
    if page.next_last is None:
        return []
    query = {"n": str(n if n is not None else len(page.items)), "last": page.next_last}
    return [(b"link", f'<{path}?{urlencode(query)}>; rel="next"'.encode())]


async def catalog(ctx: Context, params: dict[str, str]) -> None:
    n = _page_size(ctx)
    page = await ctx.registry.listing.catalog(ctx.principal, n, ctx.request.param("last") or "")
    headers = [*ctx.base_headers(), JSON, *_link(ctx, "/v2/_catalog", page, n)]
    await respond(ctx.send, 200, headers, msgspec.json.encode({"repositories": page.items}))


async def tags(ctx: Context, params: dict[str, str]) -> None:
    name = ctx.repository = params["name"]
    n = _page_size(ctx)
    last = ctx.request.param("last") or ""
    headers = [*ctx.base_headers(), JSON]
    mirror = await mirror_for(ctx, name)
    if mirror is None:
        page = await ctx.registry.listing.tags(ctx.principal, name, n, last)
    else:  # the upstream's list (the cached tags, with a Warning, when it is down)
        proxied = await mirror.manifests.tag_list(ctx.principal, name, n, last)
        page = proxied.page
        if proxied.warning:
            headers.append((b"warning", proxied.warning.encode()))
    headers += _link(ctx, f"/v2/{name}/tags/list", page, n)
    await respond(ctx.send, 200, headers, msgspec.json.encode({"name": name, "tags": page.items}))


async def referrers(ctx: Context, params: dict[str, str]) -> None:
    name = ctx.repository = params["name"]
    artifact_type = ctx.request.param("artifactType")
    mirror = await mirror_for(ctx, name)
    source = mirror.manifests if mirror else ctx.registry.listing
    body = await source.referrers(ctx.principal, name, params["digest"], artifact_type)
    headers = ctx.base_headers()
    headers.append((b"content-type", mt.OCI_INDEX.encode()))
    if artifact_type is not None:
        headers.append((b"oci-filters-applied", b"artifactType"))
    await respond(ctx.send, 200, headers, body)
