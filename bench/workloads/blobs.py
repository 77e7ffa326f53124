"""Workloads 1-3: monolithic push, chunked push, full GET and 1 MiB Range GETs of a big blob.

Every push sends content neither registry has seen (``BlobFile.refresh`` rewrites the first
bytes and re-hashes before the timer starts), so each one really writes, hashes and commits
the whole blob. The GETs read the last blob pushed, which both registries hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import loadgen
from bench.content import BlobFile
from bench.registry import get_blob, push_chunked, push_monolithic
from bench.results import HIGHER
from bench.servers import Server
from bench.workloads import Bench, each_repeat, mb, measure, order

REPO = "bench/blob"


def _throughput(size: int, action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return size / 1e6 / (time.perf_counter() - started)


def run_pushes(bench: Bench, servers: dict[str, Server], blob: BlobFile) -> None:
    size, chunk = mb(blob.size), mb(bench.profile.chunk_size)
    mono = bench.workload(
        "push_monolithic",
        1,
        "Monolithic blob push",
        f"{size} random blob, POST then one PUT ?digest=, 1 connection",
    ).figure("throughput", "push throughput", "MB/s", HIGHER)
    chunked = bench.workload(
        "push_chunked",
        2,
        "Chunked blob push",
        f"{size} random blob, POST, {chunk} PATCHes with Content-Range, empty PUT ?digest=, "
        "1 connection",
    ).figure("throughput", "push throughput", "MB/s", HIGHER)
    pushes = ((mono, _mono), (chunked, _chunked(bench.profile.chunk_size)))
    for repeat in range(bench.profile.repeats):
        for figure, push in pushes:
            blob.refresh()
            for name in order(repeat):
                measure(bench, figure, name, _push_sample(push, servers[name], blob))


Push = Callable[[Server, BlobFile], None]


def _push_sample(push: Push, server: Server, blob: BlobFile) -> Callable[[], float]:
    return lambda: _throughput(blob.size, lambda: push(server, blob))


def _mono(server: Server, blob: BlobFile) -> None:
    push_monolithic(server, REPO, blob)


def _chunked(chunk: int) -> Push:
    return lambda server, blob: push_chunked(server, REPO, blob, chunk)


def run_gets(bench: Bench, servers: dict[str, Server], blob: BlobFile) -> None:
    profile = bench.profile
    workload = bench.workload(
        "blob_get",
        3,
        "Blob GET",
        f"{mb(blob.size)} blob: full GET on 1 connection; {mb(profile.range_size)} Range GETs at "
        f"random offsets, wrk, {profile.range_concurrency} connections, {profile.load_seconds} s",
    )
    full = workload.figure("full_get", "full GET throughput", "MB/s", HIGHER)
    ranges = workload.figure("range_get", f"{mb(profile.range_size)} Range GET", "req/s", HIGHER)

    def body(repeat: int, server: Server) -> None:
        measure(
            bench,
            full,
            server.name,
            lambda: _throughput(blob.size, lambda: get_blob(server, REPO, blob)),
        )
        url = f"http://{server.address}/v2/{REPO}/blobs/{blob.digest}"
        spec = (blob.size, profile.range_size, 1000 + repeat)
        measure(
            bench,
            ranges,
            server.name,
            lambda: (
                loadgen.wrk(
                    url,
                    seconds=profile.load_seconds,
                    connections=profile.range_concurrency,
                    ranges=spec,
                ).rps
            ),
        )

    each_repeat(bench, servers, body)
