"""The debug listener (``http.debug.addr``): Prometheus metrics and health, nothing else.

A deliberately tiny HTTP/1.0 responder on its own port so scraping never competes with the
registry's routes or authentication. What it answers comes from an HTTP shell
(``api/shell.py``) with the debug mount table: the same request ids and error envelope as
every other surface. A request is its first line and headers; a body is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus

from dockyard.api.context import Context, UrlPolicy
from dockyard.api.http import Message, Scope, respond
from dockyard.api.request_id import RequestIds
from dockyard.api.shell import HttpShell, Mount, ShellOptions
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.registry import Registry

HEADER_LIMIT = 100  # header lines read per request at most


JSON = (b"content-type", b"application/json")
PROMETHEUS = (b"content-type", b"text/plain; version=0.0.4")


def debug_shell(
    registry: Registry,
    metrics: Callable[[], bytes],
    health: Callable[[], tuple[int, bytes]],
    *,
    metrics_path: str = "/metrics",
    request_ids: RequestIds | None = None,
) -> HttpShell:
    """The debug listener's mount table: ``metrics_path`` and ``/debug/health``."""

    async def serve_metrics(ctx: Context) -> None:
        ctx.route = "metrics"
        await respond(ctx.send, 200, [PROMETHEUS, _request_id(ctx)], metrics())

    async def serve_health(ctx: Context) -> None:
        ctx.route = "debug_health"
        status, body = health()
        await respond(ctx.send, status, [JSON, _request_id(ctx)], body)

    mounts = [
        Mount(metrics_path, serve_metrics, exact=True),
        Mount("/debug/health", serve_health, exact=True),
    ]
    return HttpShell(registry, mounts, ShellOptions(UrlPolicy()), request_ids=request_ids,
                     fallback=_not_found)  # fmt: skip


async def _not_found(ctx: Context) -> None:
    raise RegistryError(ErrorCode.UNSUPPORTED, "not found on the debug listener", status=404)


def _request_id(ctx: Context) -> tuple[bytes, bytes]:
    return (b"x-request-id", ctx.request_id.encode())


class DebugServer:
    def __init__(self, host: str, port: int, shell: HttpShell) -> None:
        self.host, self.port = host, port
        self.shell = shell
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 10)
            headers = await _read_headers(reader)
            parts = request_line.decode("latin-1").split()
            method = parts[0] if parts else "GET"
            target = parts[1] if len(parts) >= 2 else "/"
            path, _, query = target.partition("?")
            writer.write(await _answer(self.shell, _scope(method, path, query, headers, writer)))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


async def _read_headers(reader: asyncio.StreamReader) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for _ in range(HEADER_LIMIT):
        line = await asyncio.wait_for(reader.readline(), 10)
        if line in (b"\r\n", b"\n", b""):
            break
        name, sep, value = line.partition(b":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return headers


def _scope(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
    writer: asyncio.StreamWriter,
) -> Scope:
    peer = writer.get_extra_info("peername") or ("", 0)
    return {
        "type": "http",
        "http_version": "1.0",
        "method": method,
        "path": path or "/",
        "query_string": query.encode("latin-1"),
        "headers": headers,
        "client": (peer[0], peer[1]),
        "scheme": "http",
    }


async def _answer(shell: HttpShell, scope: Scope) -> bytes:
    """Run ``shell`` for ``scope`` (no body) and return the HTTP/1.0 response it produced."""
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    body: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message["headers"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await shell(scope, receive, send)
    reason = _reason(status)
    lines = [f"HTTP/1.0 {status} {reason}".encode()]
    lines += [name.title() + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + b"".join(body)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
