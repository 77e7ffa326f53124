"""Small HTTP/1.1 clients: asyncio connections for many small requests, and blocking helpers
that stream big bodies from a file with ``sendfile`` and read big responses into one reused
buffer, so the harness never holds a blob in memory and costs the servers as little CPU as
possible (both share the machine's cores with it)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

READ_BUFFER = 1 << 20
TIMEOUT = 600.0


class HttpError(RuntimeError):
    """A response with an unexpected status."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def expect(self, *statuses: int, what: str = "") -> Response:
        if self.status not in statuses:
            raise HttpError(f"{what}: HTTP {self.status}: {self.body[:300]!r}")
        return self

    def location(self) -> str:
        """The Location header as a path + query (registries send absolute or relative)."""
        return target_of(self.headers["location"])


def target_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def with_query(target: str, query: str) -> str:
    return f"{target}{'&' if '?' in target else '?'}{query}"


# asyncio ------------------------------------------------------------------------------------


class AsyncConnection:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        host = f"{self.host}:{self.port}"
        self._writer.write(_request_head(method, target, host, headers=headers, body=body))
        if body:
            self._writer.write(body)
        await self._writer.drain()
        status, response_headers = await _read_head(self._reader)
        payload = await _read_body(self._reader, method, status, response_headers)
        if response_headers.get("connection", "").lower() == "close":
            await self.close()
        return Response(status, response_headers, payload)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def _request_head(
    method: str, target: str, host: str, *, headers: dict[str, str] | None, body: bytes
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_body(
    reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str]
) -> bytes:
    if method == "HEAD" or status in (204, 304) or status < 200:
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return await reader.read()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


Job = Callable[[AsyncConnection], Awaitable[None]]


async def run_jobs(host: str, port: int, jobs: Iterable[Job], concurrency: int) -> int:
    """Run ``jobs`` on ``concurrency`` connections; the number of jobs that raised."""
    queue = iter(jobs)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        connection = AsyncConnection(host, port)
        try:
            for job in queue:
                try:
                    await job(connection)
                except (OSError, HttpError, asyncio.IncompleteReadError):
                    failures += 1
                    await connection.close()
        finally:
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


# blocking, for big bodies ---------------------------------------------------------------------


def connect(host: str, port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT, blocksize=READ_BUFFER)


def send_file(
    conn: http.client.HTTPConnection,
    method: str,
    target: str,
    source: Path | None,
    *,
    span: tuple[int, int] = (0, 0),
    headers: dict[str, str] | None = None,
) -> Response:
    """Send ``span`` = (offset, length) of ``source`` as the body, via sendfile."""
    offset, length = span
    conn.putrequest(method, target, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(length))
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    conn.endheaders()
    if source is not None and length:
        assert conn.sock is not None
        with open(source, "rb") as handle:
            sent = conn.sock.sendfile(handle, offset, length)
        if sent != length:
            raise HttpError(f"{method} {target}: sent {sent} of {length} bytes")
    return _finish(conn)


def _finish(conn: http.client.HTTPConnection) -> Response:
    response = conn.getresponse()
    body = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Response(response.status, headers, body)


def get_discard(
    conn: http.client.HTTPConnection, target: str, headers: dict[str, str] | None = None
) -> tuple[int, int]:
    """GET ``target`` and throw the body away; (status, bytes received)."""
    conn.request("GET", target, headers=headers or {})
    response = conn.getresponse()
    buffer = bytearray(READ_BUFFER)
    received = 0
    while True:
        count = response.readinto(buffer)
        if not count:
            break
        received += count
    return response.status, received


def file_size(path: Path) -> int:
    return os.stat(path).st_size
