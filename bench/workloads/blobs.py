"""Workloads 1-3: monolithic push, chunked push, full GET and 1 MiB Range GETs of a big blob.

Every push sends content neither registry has seen (``BlobFile.refresh`` rewrites the first
bytes and re-hashes before the timer starts), so each one really writes, hashes and commits
the whole blob. Each monolithic push is followed by a timed full GET of that blob (its first
read, from wherever the push left the bytes: page cache or disk). Workload 3 reads the last
blob pushed after one untimed GET, so both registries serve it from the page cache.
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
        f"{size} random blob, POST then one PUT ?digest=, 1 connection; then a full GET of "
        "the blob just pushed (its first read)",
    )
    mono_push = mono.figure("throughput", "push throughput", "MB/s", HIGHER)
    first_get = mono.figure("first_get", "first full GET right after the push", "MB/s", HIGHER)
    chunked = bench.workload(
        "push_chunked",
        2,
        "Chunked blob push",
        f"{size} random blob, POST, {chunk} PATCHes with Content-Range, empty PUT ?digest=, "
        "1 connection",
    ).figure("throughput", "push throughput", "MB/s", HIGHER)
    pushes = ((mono_push, _mono), (chunked, _chunked(bench.profile.chunk_size)))
    for repeat in range(bench.profile.repeats):
        for figure, push in pushes:
            blob.refresh()
            for name in order(repeat):
                measure(bench, figure, name, _push_sample(push, servers[name], blob))
                if figure is mono_push:
                    measure(bench, first_get, name, _get_sample(servers[name], blob))


Push = Callable[[Server, BlobFile], None]


def _push_sample(push: Push, server: Server, blob: BlobFile) -> Callable[[], float]:
    return lambda: _throughput(blob.size, lambda: push(server, blob))


def _get_sample(server: Server, blob: BlobFile) -> Callable[[], float]:
    return lambda: _throughput(blob.size, lambda: get_blob(server, REPO, blob))


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

    for server in servers.values():  # untimed: from here on both read from the page cache
        get_blob(server, REPO, blob)

    def body(repeat: int, server: Server) -> None:
        measure(bench, full, server.name, _get_sample(server, blob))
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
