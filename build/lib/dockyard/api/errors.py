"""The one error renderer: RegistryError -> OCI envelope; anything else -> 500 with request id."""

from __future__ import annotations

import logging

import msgspec

from dockyard.api.http import Headers, Send, respond
from dockyard.core.errors import ErrorCode, RegistryError

log = logging.getLogger("dockyard.api")
API_VERSION_HEADER = (b"docker-distribution-api-version", b"registry/2.0")


async def render_error(send: Send, error: RegistryError, *, head: bool, request_id: str) -> None:
    body = msgspec.json.encode(error.envelope())
    headers: Headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        API_VERSION_HEADER,
        (b"x-request-id", request_id.encode()),
    ]
    headers += [(k.lower().encode(), v.encode("latin-1")) for k, v in error.headers.items()]
    if head:
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await respond(send, error.status, headers, body)


def internal_error(request_id: str) -> RegistryError:
    """What a client sees for an unexpected failure: no traceback, only the request id."""
    return RegistryError(
        ErrorCode.UNKNOWN,
        "internal server error; the request id identifies it in the server log",
        detail={"request_id": request_id},
    )


def unavailable_error(request_id: str) -> RegistryError:
    """What a client sees while the storage backend cannot be reached: retry later."""
    return RegistryError(
        ErrorCode.UNAVAILABLE,
        "storage backend unavailable; retry later",
        detail={"request_id": request_id},
    )
