"""The debug listener (``http.debug.addr``): Prometheus metrics and health, nothing else.

A deliberately tiny HTTP/1.0 responder on its own port so scraping never competes with the
registry's routes or authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

ROUTES_HELP = b"/metrics /debug/health"
_STATUS_LINES = {200: b"200 OK", 503: b"503 Service Unavailable"}


class DebugServer:
    def __init__(
        self,
        host: str,
        port: int,
        metrics: Callable[[], bytes],
        health: Callable[[], tuple[int, bytes]],
        metrics_path: str = "/metrics",
    ) -> None:
        self.host, self.port = host, port
        self._routes: dict[str, tuple[bytes, Callable[[], tuple[int, bytes]]]] = {
            metrics_path: (b"text/plain; version=0.0.4", lambda: (200, metrics())),
            "/debug/health": (b"application/json", health),
        }
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
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            route = self._routes.get(path)
            if route is None:
                status, content_type, body = b"404 Not Found", b"text/plain", ROUTES_HELP
            else:
                content_type = route[0]
                code, body = route[1]()
                status = _STATUS_LINES[code]
            writer.write(
                b"HTTP/1.0 "
                + status
                + b"\r\nContent-Type: "
                + content_type
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
