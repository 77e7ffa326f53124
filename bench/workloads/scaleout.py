"""Workloads 11-12, the scale-out figures: manifest GET through nginx across three dockyard nodes
(PostgreSQL + S3) against one reference process (filesystem), and a big blob pushed to and pulled
from a dockyard node with S3 storage against raw S3 PUT and GET of the same size with obstore
(the library dockyard's S3 driver uses), in the same run and on the same store.

In workload 12 the *reference* column is raw S3, not Distribution: the ratio is the share of
the object store's own throughput that dockyard keeps. Everything (load generator, nginx, the
nodes, PostgreSQL, SeaweedFS) shares this machine's cores; a note says where the CPU went.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable

from bench import loadgen
from bench.content import MANIFEST_ACCEPT, BlobFile, small_image
from bench.registry import get_blob, push_image_sync, push_monolithic
from bench.results import HIGHER, LOWER, Workload
from bench.servers import DOCKYARD, REFERENCE, Server, cpu_ticks
from bench.stack import NODES, PART_SIZE, Seaweed, Stack
from bench.workloads import Bench, mb, measure, measure_each, order

MANIFEST_REPO = "bench/manifest"
BLOB_REPO = "bench/s3blob"
TICKS_PER_SECOND = 100


def run_scaleout(bench: Bench) -> None:
    """Start the stack and a reference, run both workloads, stop and remove everything."""
    stack = Stack(bench.workdir / "scaleout", access_log=bench.profile.access_log)
    workdir = bench.workdir / "scaleout-reference"
    reference = Server(REFERENCE, workdir, access_log=bench.profile.access_log)
    try:
        bench.log(f"  starting PostgreSQL, SeaweedFS, {NODES} dockyard nodes, nginx, reference")
        balancer = stack.start()
        reference.start()
        bench.active = [reference, *stack.nodes, balancer]
        run_manifest(bench, reference, balancer, stack)
        bench.active = [*stack.nodes, stack.seaweed]
        run_s3(bench, stack)
    finally:
        bench.active = []
        reference.stop()
        shutil.rmtree(reference.workdir, ignore_errors=True)
        stack.stop()


# workload 11 -----------------------------------------------------------------------------------


def run_manifest(bench: Bench, reference: Server, balancer: Server, stack: Stack) -> None:
    profile = bench.profile
    image = small_image(2, 1024)
    for server in (reference, balancer):
        push_image_sync(server, MANIFEST_REPO, image, "latest")
    workload = bench.workload(
        "scaleout_manifest",
        11,
        f"Manifest GET, {NODES} nodes vs 1",
        f"GET by tag of an OCI image manifest ({len(image.manifest)} bytes), Accept for OCI and "
        f"Docker types, wrk, {profile.manifest_concurrency} connections, {profile.load_seconds} s "
        f"each; reference: one Distribution process, filesystem storage; dockyard: {NODES} nodes "
        "(one uvicorn worker each, as examples/cluster/node.yml) on PostgreSQL + SeaweedFS S3 "
        f"behind nginx (examples/cluster/nginx.conf); all on the same {os.cpu_count()} cores",
    )
    rps = workload.figure("get_tag", "GET by tag", "req/s", HIGHER)
    p99 = workload.figure("get_tag_p99", "GET by tag, p99 latency", "ms", LOWER)
    targets = {REFERENCE: reference, DOCKYARD: balancer}
    groups: dict[str, list[Server]] = {
        "nodes": list(stack.nodes),
        "nginx": [balancer],
        "PostgreSQL": [stack.postgres],
        "SeaweedFS": [stack.seaweed],
    }
    usage: dict[str, float] = {}
    for repeat in range(profile.repeats):
        for name in order(repeat):
            url = f"http://{targets[name].address}/v2/{MANIFEST_REPO}/manifests/latest"
            run = _wrk(url, profile.load_seconds, profile.manifest_concurrency)
            if name == DOCKYARD:
                run = _with_cpu(run, groups, usage)
            measure_each(bench, name, run, [(rps, _rps), (p99, _p99)])
    _note_cpu(workload, usage)


def _wrk(url: str, seconds: int, connections: int) -> Callable[[], loadgen.LoadResult]:
    accept = {"Accept": MANIFEST_ACCEPT}
    return lambda: loadgen.wrk(url, seconds=seconds, connections=connections, headers=accept)


def _with_cpu(
    run: Callable[[], loadgen.LoadResult],
    groups: dict[str, list[Server]],
    usage: dict[str, float],
) -> Callable[[], loadgen.LoadResult]:
    """``run``, recording into ``usage`` the cores each group kept busy on average."""

    def wrapped() -> loadgen.LoadResult:
        pids = {name: [i for s in servers for i in s.pids()] for name, servers in groups.items()}
        before = {name: cpu_ticks(p) for name, p in pids.items()}
        started = time.monotonic()
        result = run()
        elapsed = time.monotonic() - started
        for name, p in pids.items():
            usage[name] = (cpu_ticks(p) - before[name]) / TICKS_PER_SECOND / elapsed
        return result

    return wrapped


def _note_cpu(workload: Workload, usage: dict[str, float]) -> None:
    if usage:
        busy = ", ".join(f"{name} {cores:.2f}" for name, cores in usage.items())
        workload.notes.append(
            f"cores kept busy during the last dockyard sample: {busy} (of {os.cpu_count()}; "
            "wrk's share comes on top)"
        )


def _rps(result: loadgen.LoadResult) -> float:
    return result.rps


def _p99(result: loadgen.LoadResult) -> float:
    return result.p99_ms


# workload 12 -----------------------------------------------------------------------------------


def run_s3(bench: Bench, stack: Stack) -> None:
    size = bench.profile.scaleout_blob_size
    workload = bench.workload(
        "scaleout_s3",
        12,
        "Big blob through S3 vs raw S3",
        f"{mb(size)} random blob, fresh content every repetition, 1 connection, to and from one "
        f"dockyard node with S3 storage (SeaweedFS, chunksize {mb(PART_SIZE)}, redirect "
        "disabled so the GET streams through dockyard): POST + one PUT ?digest=, then a full "
        "GET. Reference column = raw S3 with obstore in its own process on the same store: "
        f"multipart PUT of the same file ({mb(PART_SIZE)} parts, 2 in flight, as dockyard's "
        "writer), GET streamed in 1 MiB chunks",
    )
    push = workload.figure("push", "push vs raw S3 PUT", "MB/s", HIGHER)
    pull = workload.figure("pull", "pull vs raw S3 GET", "MB/s", HIGHER)
    bench.log(f"  writing a {size >> 20} MiB random blob")
    blob = BlobFile.create(bench.workdir / "scaleout.bin", size)
    node, weed = stack.nodes[0], stack.seaweed
    try:
        for repeat in range(bench.profile.repeats):
            blob.refresh()
            key = f"raw/{repeat}"
            pushes = {REFERENCE: _raw(weed, size, "put", key, str(blob.path))}
            pushes[DOCKYARD] = _timed(size, lambda: push_monolithic(node, BLOB_REPO, blob))
            pulls = {REFERENCE: _raw(weed, size, "get", key)}
            pulls[DOCKYARD] = _timed(size, lambda: get_blob(node, BLOB_REPO, blob))
            for samples, figure in ((pushes, push), (pulls, pull)):
                for name in order(repeat):
                    measure(bench, figure, name, samples[name])
            weed.raw("delete", key)
    finally:
        blob.path.unlink()


def _timed(size: int, action: Callable[[], None]) -> Callable[[], float]:
    def sample() -> float:
        started = time.perf_counter()
        action()
        return size / 1e6 / (time.perf_counter() - started)

    return sample


def _raw(weed: Seaweed, size: int, *command: str) -> Callable[[], float]:
    def sample() -> float:
        answer = weed.raw(*command)
        if answer["bytes"] != size:
            raise RuntimeError(f"raw S3 {command[0]}: {answer['bytes']} of {size} bytes")
        return size / 1e6 / answer["seconds"]

    return sample
