"""A notifications receiver for the tests: a real HTTP server on loopback, in its own process
(so that it never competes with the sender for the test process's GIL).

It answers every POST with ``status``, except every ``fail_every``-th request (counted from
its start), which gets ``fail_status``; after ``delay`` seconds. Each request is appended to a
JSON-lines log (status, path, headers, body) that the test reads. ``stop()`` kills it
(connections are refused), ``start()`` listens again on the same port, possibly answering
differently.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    status: int
    path: str
    headers: dict[str, str]
    body: bytes

    def envelope(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    status: int = 200
    fail_every: int = 0
    fail_status: int = 503
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="receiver-")))
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    @property
    def log(self) -> Path:
        return self.directory / "requests.jsonl"

    def start(self, **answers: Any) -> Receiver:
        """Listen (again), answering as the fields (updated by ``answers``) say."""
        for name, value in answers.items():
            setattr(self, name, value)
        args = [sys.executable, __file__, "--port", str(self.port), "--log", str(self.log)]
        args += ["--status", str(self.status), "--fail-every", str(self.fail_every)]
        args += ["--fail-status", str(self.fail_status), "--delay", str(self.delay)]
        self._process = subprocess.Popen(args)
        deadline = time.monotonic() + 20
        while not _listening(self.port):
            assert self._process.poll() is None, "the receiver exited"
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def requests(self) -> list[Received]:
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.endswith("}")]
        return [Received(r["status"], r["path"], r["headers"], r["body"].encode()) for r in records]

    @property
    def answered(self) -> list[int]:
        return [r.status for r in self.requests()]

    @property
    def received(self) -> list[Received]:
        """The requests answered with a 2xx, in the order they arrived."""
        return [r for r in self.requests() if 200 <= r.status < 300]

    def accepted(self) -> int:
        """How many requests were answered with a 2xx (cheap: no JSON is parsed)."""
        if not self.log.exists():
            return 0
        return sum(line.startswith('{"status": 2') for line in self.log.read_text().splitlines())

    def events(self) -> list[dict[str, Any]]:
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


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- the server process


def _serve(options: argparse.Namespace) -> None:
    lock = threading.Lock()
    counter = [0]
    log = open(options.log, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                counter[0] += 1
                failing = options.fail_every and counter[0] % options.fail_every == 0
                status = options.fail_status if failing else options.status
                record = {
                    "status": status,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body.decode(),
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
            if options.delay:
                time.sleep(options.delay)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--delay", type=float, default=0.0)
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the test process
    _serve(parser.parse_args())
