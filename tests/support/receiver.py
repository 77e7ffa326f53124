"""A notifications receiver for the tests: a real HTTP server on loopback, in a thread.

It records every POST (headers and body) and answers what ``answer(n)`` says for the n-th
request (1, 2, ...): a status code, after ``delay`` seconds. ``stop()`` closes the socket
(connections are refused) and ``start()`` listens again on the same port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def envelope(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    answer: Callable[[int], int] = lambda n: 200
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._take(self.path, dict(self.headers.items()), body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self.answer(len(self.answered) + 1)
            self.answered.append(status)
            if 200 <= status < 300:
                self.received.append(Received(path, headers, body))
            return status

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def events(self) -> list[dict[str, Any]]:
        """Every event accepted (a 2xx), in the order they arrived."""
        with self._lock:
            return [e for r in self.received for e in r.envelope()["events"]]

    def wait_for(self, count: int, seconds: float = 60.0) -> list[dict[str, Any]]:
        """The accepted events once there are at least ``count`` (fails after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.events()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events())} of {count} events arrived")
