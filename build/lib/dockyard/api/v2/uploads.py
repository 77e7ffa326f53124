"""Blob uploads: start (or mount, or monolithic), PATCH chunks, PUT to finish, status, cancel."""

from __future__ import annotations

import re

from dockyard.api.context import Context
from dockyard.api.http import Headers, client_address, respond
from dockyard.api.v2.quota import quota_warning
from dockyard.core.errors import ErrorCode, RegistryError

_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?$")
CHUNK_MIN_LENGTH = b"1"


def _upload_headers(ctx: Context, name: str, upload_id: str, offset: int) -> Headers:
    headers = ctx.base_headers()
    headers += [
        (b"location", ctx.location(f"/v2/{name}/blobs/uploads/{upload_id}")),
        (b"range", f"0-{max(offset - 1, 0)}".encode()),
        (b"docker-upload-uuid", upload_id.encode()),
    ]
    return headers


async def _created(ctx: Context, name: str, digest: str) -> None:
    headers = ctx.base_headers()
    headers += [
        (b"location", ctx.location(f"/v2/{name}/blobs/{digest}")),
        (b"docker-content-digest", digest.encode()),
    ]
    headers += await quota_warning(ctx, name)
    await respond(ctx.send, 201, headers)


async def start(ctx: Context, params: dict[str, str]) -> None:
    name = ctx.repository = params["name"]
    service = ctx.registry.uploads
    request = ctx.request
    mount = request.param("mount")
    if mount is not None:
        blob = await service.mount(
            ctx.principal,
            name,
            mount,
            request.param("from"),
            request_id=ctx.request_id,
            request=ctx.event_request(),
        )
        if blob is not None:
            await _created(ctx, name, blob.digest)
            return
    digest = request.param("digest")
    if digest is not None:
        blob = await service.monolithic(
            ctx.principal, name, digest, request.stream(),
            length=request.content_length(), request_id=ctx.request_id,
            request=ctx.event_request(),
        )  # fmt: skip
        await _created(ctx, name, blob.digest)
        return
    record = await service.start(
        ctx.principal, name, address=client_address(request), request_id=ctx.request_id
    )
    headers = _upload_headers(ctx, name, record.id, 0)
    headers.append((b"oci-chunk-min-length", CHUNK_MIN_LENGTH))
    headers += await quota_warning(ctx, name)
    await respond(ctx.send, 202, headers)


def _content_range(ctx: Context) -> int | None:
    """The start offset the client claims, checked against its Content-Length."""
    header = ctx.request.headers.get("content-range")
    if header is None:
        return None
    found = _CONTENT_RANGE.match(header.strip())
    if found is None or int(found.group(2)) < int(found.group(1)):
        raise RegistryError(
            ErrorCode.BLOB_UPLOAD_INVALID, f"malformed Content-Range {header[:100]!r}", status=416
        )
    first, last = int(found.group(1)), int(found.group(2))
    length = ctx.request.content_length()
    if length is not None and length != last - first + 1:
        raise RegistryError(
            ErrorCode.BLOB_UPLOAD_INVALID,
            "Content-Range does not match Content-Length",
            status=416,
        )
    return first


def _with_location(ctx: Context, name: str, upload_id: str, error: RegistryError) -> RegistryError:
    """Add the session's Location to a 416 so the client can resume from the true offset."""
    if error.status == 416:
        location = ctx.location(f"/v2/{name}/blobs/uploads/{upload_id}").decode()
        error.headers.setdefault("Location", location)
        error.headers.setdefault("Docker-Upload-UUID", upload_id)
    return error


async def patch(ctx: Context, params: dict[str, str]) -> None:
    name, upload_id = params["name"], params["uuid"]
    ctx.repository = name
    service = ctx.registry.uploads
    try:
        start_at = _content_range(ctx)
        _, offset = await service.append(
            ctx.principal,
            name,
            upload_id,
            ctx.request.stream(),
            start_at,
            length=ctx.request.content_length(),
            request_id=ctx.request_id,
        )
    except RegistryError as error:
        raise _with_location(ctx, name, upload_id, error) from None
    headers = _upload_headers(ctx, name, upload_id, offset)
    headers += await quota_warning(ctx, name)
    await respond(ctx.send, 202, headers)


async def put(ctx: Context, params: dict[str, str]) -> None:
    name, upload_id = params["name"], params["uuid"]
    ctx.repository = name
    digest = ctx.request.param("digest")
    if not digest:
        raise RegistryError(ErrorCode.DIGEST_INVALID, "the digest query parameter is required")
    try:
        # an empty closing PUT places no bytes: a Content-Range on it is not checked
        start_at = _content_range(ctx) if ctx.request.content_length() != 0 else None
        blob = await ctx.registry.uploads.complete(
            ctx.principal, name, upload_id, digest, ctx.request.stream(),
            length=ctx.request.content_length(), start=start_at, request_id=ctx.request_id,
            request=ctx.event_request(),
        )  # fmt: skip
    except RegistryError as error:
        raise _with_location(ctx, name, upload_id, error) from None
    await _created(ctx, name, blob.digest)


async def status(ctx: Context, params: dict[str, str]) -> None:
    name, upload_id = params["name"], params["uuid"]
    ctx.repository = name
    service = ctx.registry.uploads
    record = await service.find(ctx.principal, name, upload_id)
    offset = await service.offset(record)
    await respond(ctx.send, 204, _upload_headers(ctx, name, upload_id, offset))


async def cancel(ctx: Context, params: dict[str, str]) -> None:
    name, upload_id = params["name"], params["uuid"]
    ctx.repository = name
    await ctx.registry.uploads.cancel(ctx.principal, name, upload_id)
    await respond(ctx.send, 204, ctx.base_headers())
