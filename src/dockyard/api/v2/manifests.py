"""Manifest GET/HEAD/PUT/DELETE by tag or digest; bytes served exactly as pushed."""

from __future__ import annotations

from dockyard.api.context import Context
from dockyard.api.errors import API_VERSION_HEADER
from dockyard.api.http import respond
from dockyard.api.v2.mirror_route import mirror_for
from dockyard.api.v2.quota import quota_warning


async def get(ctx: Context, params: dict[str, str]) -> None:
    """GET and HEAD (the same headers, no body): the registry's hottest request, so the
    header list is built in one go from pre-encoded parts."""
    name = ctx.repository = params["name"]
    mirror = await mirror_for(ctx, name)
    warning: list[tuple[bytes, bytes]] = []
    if mirror is None:
        record, admission = await ctx.registry.manifests.get_admitted(
            ctx.principal,
            name,
            params["reference"],
            download=ctx.request.method == "GET",
            request_id=ctx.request_id,
        )
        if admission.warnings:
            warning.append((b"warning", admission.header() or b""))
    else:
        proxied = await mirror.manifests.get(ctx.principal, name, params["reference"])
        record = proxied.record
        ctx.registry.manifests.note_pull(
            ctx.principal,
            name,
            params["reference"],
            record,
            download=ctx.request.method == "GET",
            request_id=ctx.request_id,
        )
        if proxied.warning:
            warning.append((b"warning", proxied.warning.encode()))
    digest = record.digest.encode()
    headers = [
        API_VERSION_HEADER,
        (b"x-request-id", ctx.request_id.encode()),
        *warning,
        (b"content-type", record.media_type.encode()),
        (b"docker-content-digest", digest),
        (b"etag", b'"%s"' % digest),
        (b"content-length", b"%d" % len(record.content)),
    ]
    await ctx.answer(200, headers, b"" if ctx.request.method == "HEAD" else record.content)


async def put(ctx: Context, params: dict[str, str]) -> None:
    name = ctx.repository = params["name"]
    registry = ctx.registry
    body = await ctx.request.read_limited(registry.options.manifest_max_bytes)
    tag_params = ctx.request.params("tag")
    pushed = await registry.manifests.put(
        ctx.principal,
        name,
        params["reference"],
        content_type=ctx.request.headers.get("content-type", ""),
        body=body,
        extra_tags=tag_params,
        request_id=ctx.request_id,
        request=ctx.event_request(),
    )
    headers = ctx.base_headers()
    headers += [
        (b"location", ctx.location(f"/v2/{name}/manifests/{pushed.digest}")),
        (b"docker-content-digest", pushed.digest.encode()),
    ]
    if pushed.subject:
        headers.append((b"oci-subject", pushed.subject.encode()))
    if tag_params:  # distribution-spec: one OCI-Tag per accepted tag of a ?tag= push
        headers += [(b"oci-tag", tag.encode()) for tag in pushed.tags]
    headers += await quota_warning(ctx, name)
    await respond(ctx.send, 201, headers)


async def delete(ctx: Context, params: dict[str, str]) -> None:
    ctx.repository = params["name"]
    await ctx.registry.manifests.delete(
        ctx.principal,
        params["name"],
        params["reference"],
        request_id=ctx.request_id,
        request=ctx.event_request(),
    )
    await respond(ctx.send, 202, ctx.base_headers())
