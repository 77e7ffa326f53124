"""A notification receiver for the event workloads: a real HTTP server on a loopback port, in a
thread of the harness (standard library only).

It answers every POST with 200, after ``delay`` seconds when set (a slow receiver), and records
when it first saw each manifest push by digest, from registry:2's envelope
(``{"events": [{"action": "push", "target": {"mediaType", "digest"}}]}``), which both
registries send. Repeats of a digest (at-least-once delivery) are counted, not recorded again.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.servers import HOST

MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)


class Receiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.pushed: dict[str, float] = {}  # manifest digest -> first arrival (perf_counter)
        self.requests = 0
        self.repeats = 0
        self._server = ThreadingHTTPServer((HOST, 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/events"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        with self.lock:
            self.pushed.clear()
            self.requests = self.repeats = 0

    def wait_for(self, digests: set[str], timeout: float) -> dict[str, float]:
        """Arrival times of ``digests``; RuntimeError when some did not come within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = {d: self.pushed[d] for d in digests if d in self.pushed}
            if len(found) == len(digests):
                return found
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(digests) - len(found)} of {len(digests)} events missing")
            time.sleep(0.01)

    def note(self, body: bytes) -> None:
        arrived = time.perf_counter()
        try:
            events = json.loads(body).get("events", [])
        except (ValueError, AttributeError):
            events = []
        with self.lock:
            self.requests += 1
            for event in events:
                target = event.get("target") or {}
                if event.get("action") != "push" or target.get("mediaType") not in MANIFEST_TYPES:
                    continue
                digest = str(target.get("digest"))
                if digest in self.pushed:
                    self.repeats += 1
                else:
                    self.pushed[digest] = arrived


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as receivers behind a proxy usually are

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            receiver.note(body)
            if receiver.delay:
                time.sleep(receiver.delay)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler
