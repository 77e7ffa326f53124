"""Replication of N small images with 4 parallel streams against one at a time (issue #14).

Standalone (``python -m bench.replication``); not part of ``scripts/bench``'s phases yet. Like
the rest of the harness it talks to dockyard over HTTP and through its command line only:

1. a peer (``dockyard serve``, empty) and a source (``dockyard serve`` with its job runner,
   ``dockyard.outbound.allowed`` opened to loopback) on 127.0.0.1;
2. N images (a config and 3 random layers each) pushed to the source;
3. for each link (loopback as it is, then through a small TCP relay that delays every chunk
   by ``--latency-ms`` each way, a stand-in for a link between sites), two policies with
   different target prefixes, ``--parallel 1`` and ``--parallel 4``, each run once with
   ``dockyard replication run NAME --wait``; the run's own duration (started to finished, as
   recorded in its history) is the figure.

Prints a table of seconds per run and the speed-up (target: >= 3x).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bench.content import small_image
from bench.servers import HOST, dockyard_command, free_port

REPOSITORY = "bench/app"


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _request("GET", url)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer") from None
            time.sleep(0.1)


@contextmanager
def _serve(data: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    log = open(data.parent / f"{data.name}.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [dockyard_command(), "serve", "--addr", f"{HOST}:{port}", "--data-dir", str(data)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        url = f"http://{HOST}:{port}"
        _wait_http(url + "/v2/")
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _request(
    method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> str:
    """Send one request; its Location header. OSError on a failure or an error status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=60)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        answer.read()
        if answer.status >= 400:
            raise OSError(f"{method} {url}: {answer.status}")
        return str(answer.getheader("Location", ""))
    finally:
        conn.close()


def _push_images(url: str, count: int, layer_size: int) -> None:
    for n in range(count):
        image = small_image(3, layer_size)
        for blob in image.blobs:
            location = _request("POST", f"{url}/v2/{REPOSITORY}{n}/blobs/uploads/")
            separator = "&" if "?" in location else "?"
            target = location if location.startswith("http") else url + location
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            _request("PUT", f"{target}{separator}digest={digest}", blob)
        _request("PUT", f"{url}/v2/{REPOSITORY}{n}/manifests/v1", image.manifest,
                 {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})  # fmt: skip


class _Relay:
    """A TCP relay on loopback that holds every chunk ``delay`` seconds, each way."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port, self.delay, self.port = target_port, delay, free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await asyncio.sleep(self.delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> str:
        self.thread.start()
        start = asyncio.start_server(self._client, HOST, self.port)
        asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        return f"http://{HOST}:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def _cli(data: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([dockyard_command(), *args, "--data-dir", str(data)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"dockyard {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _timed_run(data: Path, env: dict[str, str], name: str, peer: str, parallel: int) -> float:
    _cli(data, env, "replication", "add", name, "--url", peer, "--prefix", name,
         "--repository", "bench/**", "--parallel", str(parallel))  # fmt: skip
    out = _cli(data, env, "replication", "run", name, "--wait")
    found = re.search(rf"^\d+\s+{name}\s+manual\s+done\s+([0-9.]+)\s+(\d+) copied", out, re.M)
    if found is None:
        raise RuntimeError(f"run of {name} did not finish well:\n{out}")
    return float(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--layer-kib", type=int, default=256)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the relay's delay")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dockyard-bench-replication-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {"REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]",
            "REGISTRY_DOCKYARD_JOBS_POLL": "100ms"}  # fmt: skip
    rows = []
    try:
        with _serve(workdir / "peer", env) as peer, _serve(workdir / "source", env) as source:
            _push_images(source, args.images, args.layer_kib * 1024)
            port = int(peer.rsplit(":", 1)[1])
            links = [("loopback", 0.0), (f"+{args.latency_ms:g} ms relay", args.latency_ms)]
            for n, (label, delay) in enumerate(links):
                with _Relay(port, delay / 1000) as relayed:
                    one = _timed_run(workdir / "source", env, f"l{n}p1", relayed, 1)
                    four = _timed_run(workdir / "source", env, f"l{n}p4", relayed, 4)
                rows.append((label, one, four))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"replication of {args.images} images (config + 3 x {args.layer_kib} KiB layers)\n")
    print("| link | 1 stream (s) | 4 streams (s) | speed-up | target >= 3x |")
    print("|---|---|---|---|---|")
    for label, one, four in rows:
        ratio = one / four if four else 0.0
        print(f"| {label} | {one:.2f} | {four:.2f} | {ratio:.2f}x | "
              f"{'met' if ratio >= 3 else '**NOT met**'} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
