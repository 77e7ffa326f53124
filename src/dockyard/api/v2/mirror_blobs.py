"""Blob GET/HEAD on a pull-through cache (``proxy.remoteurl``, a cache prefix); others:
blobs.get.

A cached blob is served as any stored blob; a live download is streamed as it arrives (the
connection is aborted, never completed, when the download fails its digest check; a download
that fails before its first bytes arrived is answered 503 ``UNAVAILABLE``); a relayed
upstream answer (HEAD, a Range request's 206) is passed through with only its length and
range headers.
"""

from __future__ import annotations

import httpx

from dockyard.api.context import Context
from dockyard.api.http import send_body, send_start
from dockyard.api.v2 import blobs
from dockyard.api.v2.mirror_route import mirror_for
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.upstream.blob_cache import CachedBlob, LiveBlob, RelayedBlob
from dockyard.services.upstream.flight import FlightFailedError

RELAYED_HEADERS = ("content-length", "content-range")


async def get(ctx: Context, params: dict[str, str]) -> None:
    mirror = await mirror_for(ctx, params["name"])
    if mirror is None:
        await blobs.get(ctx, params)
        return
    ctx.repository = params["name"]
    head = ctx.request.method == "HEAD"
    ranged = "" if head else ctx.request.headers.get("range", "")
    answer = await mirror.blobs.get(
        ctx.principal, params["name"], params["digest"], head=head, ranged=ranged
    )
    if isinstance(answer, CachedBlob):
        await blobs.serve(ctx, answer.handle, head=head)
    elif isinstance(answer, LiveBlob):
        await _live(ctx, answer, head, ranged)
    else:
        await _relayed(ctx, answer, head)


async def _live(ctx: Context, answer: LiveBlob, head: bool, ranged: str) -> None:
    try:
        headers = blobs.blob_headers(ctx, answer.digest)
        start, length, status = 0, answer.size, 200
        if ranged and answer.size is not None:
            span = blobs.parse_range(ranged, answer.size)
            if span is not None:
                start, length, status = span[0], span[1] - span[0] + 1, 206
                range_text = f"bytes {span[0]}-{span[1]}/{answer.size}"
                headers.append((b"content-range", range_text.encode()))
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        chunks = None if head else answer.reader.chunks(start, length)
        # the first bytes before the status: a download failing before it sent anything is
        # answered 503 with an error body instead of an aborted 200
        first = b"" if chunks is None else await anext(chunks, b"")
        await send_start(ctx.send, status, headers)
        if first:
            await send_body(ctx.send, first, more=True)
        if chunks is not None:
            async for chunk in chunks:
                await send_body(ctx.send, chunk, more=True)
        await send_body(ctx.send, b"")
    except FlightFailedError as exc:
        raise _aborted(str(exc)) from None
    finally:
        answer.reader.release()


async def _relayed(ctx: Context, answer: RelayedBlob, head: bool) -> None:
    response = answer.response
    try:
        headers = blobs.blob_headers(ctx, answer.digest)
        headers += [
            (name.encode(), response.headers[name].encode("latin-1"))
            for name in RELAYED_HEADERS
            if name in response.headers
        ]
        await send_start(ctx.send, response.status_code, headers)
        if not head:
            async for chunk in response.aiter_bytes():
                await send_body(ctx.send, chunk, more=True)
        await send_body(ctx.send, b"")
    except httpx.HTTPError as exc:
        raise _aborted(f"the upstream stopped sending: {exc}") from None
    finally:
        await response.aclose()


def _aborted(reason: str) -> RegistryError:
    """Raised after the response started: the app ends the connection without completing it."""
    return RegistryError(ErrorCode.UNAVAILABLE, f"blob download from the upstream failed: {reason}")
