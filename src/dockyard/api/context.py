"""Per-request state: who is calling, the repository, and what was sent back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dockyard.api.errors import API_VERSION_HEADER
from dockyard.api.http import Headers, Message, Request, Send
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.core.events import EventRequest
from dockyard.services.registry import Registry


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """How to build Location headers (``http.relativeurls``, ``http.host``)."""

    relative: bool = False
    host: str = ""


@dataclass(slots=True)
class Context:
    request: Request
    raw_send: Send
    registry: Registry
    urls: UrlPolicy
    request_id: str
    principal: Principal = ANONYMOUS
    repository: str = ""
    route: str = "unknown"
    status: int = 0
    bytes_sent: int = 0
    extra_headers: Headers = field(default_factory=list)
    response_headers: Sequence[tuple[bytes, bytes]] = ()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_headers = message["headers"]  # for the audit log (no copy)
        elif message["type"] == "http.response.body":
            self.bytes_sent += len(message.get("body", b""))
        await self.raw_send(message)

    async def answer(self, status: int, headers: Headers, body: bytes) -> None:
        """A whole response in two messages, recorded as ``send`` records them (without
        going through it: the manifest GET path). ``headers`` must carry Content-Length."""
        self.status = status
        self.response_headers = headers
        self.bytes_sent += len(body)
        raw_send = self.raw_send
        await raw_send({"type": "http.response.start", "status": status, "headers": headers})
        await raw_send({"type": "http.response.body", "body": body, "more_body": False})

    def event_request(self) -> EventRequest:
        """This request as events (registry:2 notifications) report it."""
        headers = self.request.headers
        client = self.request.scope.get("client")
        return EventRequest(
            addr=f"{client[0]}:{client[1]}" if client else "",
            host=headers.get("x-forwarded-host") or headers.get("host", ""),
            method=self.request.method,
            useragent=headers.get("user-agent", ""),
            scheme=headers.get("x-forwarded-proto") or self.request.scope.get("scheme", "http"),
        )

    def base_headers(self) -> Headers:
        return [API_VERSION_HEADER, (b"x-request-id", self.request_id.encode())]

    def location(self, path: str) -> bytes:
        if self.urls.relative:
            return path.encode()
        if self.urls.host:
            return (self.urls.host.rstrip("/") + path).encode()
        headers = self.request.headers
        host = headers.get("x-forwarded-host") or headers.get("host")
        if not host:
            return path.encode()
        scheme = headers.get("x-forwarded-proto") or self.request.scope.get("scheme", "http")
        return f"{scheme}://{host}{path}".encode()
