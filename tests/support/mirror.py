"""Upstreams for pull-through cache tests, all on loopback.

- :func:`logged_registry`: Debian's docker-registry (CNCF Distribution 2.8) with its access
  log in a file, so a test can count the upstream requests it really received.
- :class:`HostileUpstream`: a tiny HTTP server playing a misbehaving upstream (wrong bytes for
  a digest, truncated bodies, 429s). A test double of a hostile server, not of a component
  dockyard depends on; it counts connections, so a test can tell none was made.
- :func:`mirror_config`: a dockyard config that caches one upstream.
"""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from support.server import free_port, wait_for_http


@dataclass
class LoggedRegistry:
    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def requests(self, method: str, path: str) -> int:
        """How many ``method path`` requests the access log shows (query strings ignored)."""
        pattern = re.compile(rf'"{method} {re.escape(path)}(\?[^ ]*)? HTTP/')
        return len(pattern.findall(self.log_path.read_text(errors="replace")))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@contextmanager
def logged_registry(
    root: Path, workdir: Path, port: int | None = None, htpasswd: Path | None = None
) -> Iterator[LoggedRegistry]:
    """docker-registry serving ``root`` with its access log in ``workdir`` (HTTP Basic
    authentication with ``htpasswd``, if given)."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is missing: apt-get install docker-registry"
    port = port or free_port()
    config = workdir / f"upstream-{port}.yml"
    auth = f"auth:\n  htpasswd:\n    realm: upstream\n    path: {htpasswd}\n" if htpasswd else ""
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
    )
    log_path = workdir / f"upstream-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    running = LoggedRegistry(f"http://127.0.0.1:{port}", log_path, process)
    try:
        wait_for_http(running.url + "/v2/")
        yield running
    finally:
        running.stop()


def mirror_config(
    upstream: str, *, allowed: bool = True, extra: str = "", debug_port: int = 0
) -> str:
    """A dockyard config caching ``upstream`` (loopback allowed unless ``allowed`` is False;
    ``extra``: more ``dockyard:`` keys, indented; ``debug_port``: metrics there)."""
    outbound = "  outbound:\n    allowed: [127.0.0.0/8]\n" if allowed else ""
    debug = f"http:\n  debug:\n    addr: 127.0.0.1:{debug_port}\n" if debug_port else ""
    return (
        f"version: 0.1\nlog:\n  level: info\n{debug}"
        f"proxy:\n  remoteurl: {upstream}\n"
        f"dockyard:\n{outbound}{extra}"
    )


def metric(debug_url: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent) from dockyard's debug listener."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in httpx.get(debug_url + "/metrics", timeout=10).text.splitlines():
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        found = sample.partition("{")[2].rstrip("}")
        if ",".join(sorted(found.split(","))) == wanted:
            return float(value)
    return 0.0


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    announce: int | None = None  # Content-Length to claim (default: len(body); -1: none)
    basic: str = ""  # "user:password" this path demands (401 with a Basic challenge otherwise)


@dataclass
class HostileUpstream:
    """Answers ``replies[path]`` (404 otherwise); counts connections and requests."""

    replies: dict[str, Reply] = field(default_factory=dict)
    connections: int = 0
    requests: list[str] = field(default_factory=list)
    authorizations: list[tuple[str, str]] = field(default_factory=list)  # (path, header)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _basic(pair: str) -> str:
    return "Basic " + base64.b64encode(pair.encode()).decode()


@contextmanager
def hostile_upstream() -> Iterator[HostileUpstream]:
    state = HostileUpstream()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            state.connections += 1
            super().setup()

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def do_GET(self) -> None:
            self._answer(head=False)

        def _answer(self, *, head: bool) -> None:
            state.requests.append(f"{self.command} {self.path}")
            state.authorizations.append((self.path, self.headers.get("Authorization", "")))
            reply = state.replies.get(self.path.split("?")[0], Reply(404, b"{}"))
            if reply.basic and self.headers.get("Authorization") != _basic(reply.basic):
                reply = Reply(401, b"{}", {"WWW-Authenticate": 'Basic realm="hostile"'})
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            length = reply.announce if reply.announce is not None else len(reply.body)
            if reply.announce == -1:  # no length: the body ends when the connection closes
                self.send_header("Connection", "close")
            else:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if not head:
                self.wfile.write(reply.body)
            if length != len(reply.body):
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
