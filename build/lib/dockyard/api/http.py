"""Minimal ASGI request and response primitives for the registry endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from dockyard.core.errors import ErrorCode, RegistryError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class ClientDisconnectedError(Exception):
    """The client went away before the request body was complete."""


class Request:
    __slots__ = (
        "_body_complete",
        "_headers",
        "_query",
        "_task",
        "_waiting_since",
        "_watchdog",
        "body_timeout",
        "bytes_received",
        "method",
        "path",
        "receive",
        "scope",
        "stalled",
    )

    def __init__(self, scope: Scope, receive: Receive, *, body_timeout: float = 0.0) -> None:
        self.scope = scope
        self.receive = receive
        self.body_timeout = body_timeout  # seconds a body may send nothing; 0: no limit
        self.stalled = False
        self._waiting_since: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self._headers: dict[str, str] | None = None  # decoded when first asked for
        self._query: dict[str, list[str]] | None = None
        self.bytes_received = 0
        self._body_complete: bool | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Request headers by lower-case name (a repeated header: its last value)."""
        if self._headers is None:
            self._headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in self.scope["headers"]
            }
        return self._headers

    def header(self, name: bytes) -> str | None:
        """One header by lower-case name, without decoding the others (the last one wins,
        as in ``headers``)."""
        if self._headers is not None:
            return self._headers.get(name.decode("latin-1"))
        found = None
        for key, value in self.scope["headers"]:
            if key.lower() == name:
                found = value
        return None if found is None else found.decode("latin-1")

    @property
    def body_complete(self) -> bool:
        """Whether nothing of the body is left to read (none was announced, or all came)."""
        if self._body_complete is None:
            self._body_complete = not _may_have_body(self.headers)
        return self._body_complete

    @body_complete.setter
    def body_complete(self, value: bool) -> None:
        self._body_complete = value

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            raw = self.scope.get("query_string", b"")
            self._query = parse_qs(raw.decode("latin-1"), keep_blank_values=True) if raw else {}
        return self._query

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        if value is None:
            return None
        if not value.isdigit():
            raise RegistryError(ErrorCode.SIZE_INVALID, "invalid Content-Length header")
        return int(value)

    async def stream(self) -> AsyncIterator[bytes]:
        """The body, chunk by chunk; raises ClientDisconnectedError if the client leaves and
        a 408 RegistryError if it sends nothing for ``body_timeout`` seconds."""
        if self.stalled:
            raise self._stalled_error()
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError
            chunk = message.get("body", b"")
            if chunk:
                self.bytes_received += len(chunk)
                yield chunk
            if not message.get("more_body", False):
                self.body_complete = True
                self.close()
                return

    async def _receive(self) -> Message:
        """``receive()``, watched: one timer per request checks every quarter of the timeout
        whether the current wait is older than the timeout (cheaper than a timer per chunk)."""
        if not self.body_timeout:
            return await self.receive()
        loop = asyncio.get_running_loop()
        self._waiting_since = loop.time()
        if self._watchdog is None:
            self._task = asyncio.current_task()
            self._watchdog = loop.call_later(self.body_timeout / 4, self._watch, loop)
        try:
            return await self.receive()
        except asyncio.CancelledError:
            if self.stalled and self._task is not None and self._task.uncancel() == 0:
                raise self._stalled_error() from None
            raise
        finally:
            self._waiting_since = None

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        since = self._waiting_since
        if since is not None and loop.time() - since >= self.body_timeout:
            self._watchdog = None
            self.stalled = True
            if self._task is not None:
                self._task.cancel()
            return
        self._watchdog = loop.call_later(self.body_timeout / 4, self._watch, loop)

    def close(self) -> None:
        """Stop watching the body (it is complete, or the request is over)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _stalled_error(self) -> RegistryError:
        manifest = "/manifests/" in self.path
        return RegistryError(
            ErrorCode.MANIFEST_INVALID if manifest else ErrorCode.BLOB_UPLOAD_INVALID,
            f"request body stalled: nothing arrived for {self.body_timeout:g} s",
            detail={"received": self.bytes_received, "timeout_seconds": self.body_timeout},
            status=408,
            headers={"Connection": "close"},
        )

    async def drain(self, limit: int) -> bool:
        """Read and discard what is left of the body, up to ``limit`` bytes.

        Answering an error before the client finished sending can turn into a connection
        reset at the client instead of the error; a small remainder is cheaper to read.
        Returns True when the whole body has been consumed.
        """
        if self.body_complete:
            return True
        declared = self.content_length()
        if declared is not None and declared - self.bytes_received > limit:
            return False
        start = self.bytes_received
        try:
            async for _ in self.stream():
                if self.bytes_received - start > limit:
                    return False
        except ClientDisconnectedError:
            return False
        return True

    async def read_limited(self, limit: int) -> bytes:
        """The whole body, refusing (413) anything over ``limit`` without reading it all."""
        declared = self.content_length()
        if declared is not None and declared > limit:
            raise _too_large(limit)
        parts: list[bytes] = []
        total = 0
        async for chunk in self.stream():
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
            parts.append(chunk)
        return b"".join(parts)


def _may_have_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def client_address(request: Request) -> str:
    """The client's address: the TCP peer's, or the client a trusted proxy names (the app
    rewrites ``scope["client"]`` on arrival, see :mod:`dockyard.api.forwarded`)."""
    client = request.scope.get("client")
    return str(client[0]) if client else ""


def _too_large(limit: int) -> RegistryError:
    return RegistryError(
        ErrorCode.MANIFEST_INVALID,
        f"manifest exceeds the {limit} byte limit",
        detail={"limit": limit},
        status=413,
        headers={"Connection": "close"},
    )


async def send_start(send: Send, status: int, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_body(send: Send, body: bytes, *, more: bool = False) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def respond(send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
    """A complete response whose Content-Length is the body's."""
    headers.append((b"content-length", str(len(body)).encode()))
    await send_start(send, status, headers)
    await send_body(send, body)
