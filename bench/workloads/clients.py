"""Workloads 7-8: skopeo copies of a multi-layer image in and out, and many small image
pushes at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable

from bench.content import Image, oci_layout, small_image
from bench.http import AsyncConnection, Job
from bench.registry import push_image, run_many
from bench.results import LOWER
from bench.servers import Server
from bench.workloads import Bench, mb, measure, measure_each, order

SKOPEO_REPO = "bench/skopeo"
SKOPEO_TIMEOUT = 1800


def _skopeo(bench: Bench, *args: str) -> float:
    env = {**os.environ, "TMPDIR": str(bench.workdir)}
    started = time.perf_counter()
    argv = ["skopeo", "copy", "--quiet", *args]
    result = subprocess.run(
        argv, check=False, capture_output=True, text=True, env=env, timeout=SKOPEO_TIMEOUT
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy {' '.join(args)}: {result.stderr.strip()[-800:]}")
    return seconds


def _copy(bench: Bench, *args: str) -> Callable[[], float]:
    return lambda: _skopeo(bench, *args)


def run_skopeo(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    layers, size = profile.skopeo_layers, profile.skopeo_layer_size
    workload = bench.workload(
        "skopeo",
        7,
        "skopeo copy",
        f"{layers} random layers x {mb(size)} (gzip, stored), OCI layout made by the harness; "
        "fresh content every repetition",
    )
    copy_in = workload.figure("copy_in", "oci layout -> registry", "s", LOWER)
    copy_out = workload.figure("copy_out", "registry -> oci layout", "s", LOWER)
    for repeat in range(profile.repeats):
        layout = bench.workdir / f"skopeo-layout-{repeat}"
        total = oci_layout(layout, "bench", layers, size)
        if repeat == 0:
            workload.notes.append(f"image size {total / 1e6:,.1f} MB (all blobs)")
        for name in order(repeat):
            reference = f"docker://{servers[name].address}/{SKOPEO_REPO}:r{repeat}"
            out = bench.workdir / f"skopeo-out-{name}"
            measure(
                bench,
                copy_in,
                name,
                _copy(bench, "--dest-tls-verify=false", f"oci:{layout}:bench", reference),
            )
            measure(
                bench,
                copy_out,
                name,
                _copy(bench, "--src-tls-verify=false", reference, f"oci:{out}:bench"),
            )
            shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(layout, ignore_errors=True)


def run_concurrent_pushes(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    count = profile.push_images
    workload = bench.workload(
        "concurrent_push",
        8,
        "Concurrent pushes",
        f"{count} different images at once, each config + {profile.push_layers} x "
        f"{mb(profile.push_layer_size)} layers (POST + PUT per blob, then the manifest), "
        f"{count} connections",
    )
    seconds = workload.figure("seconds", f"{count} pushes, total", "s", LOWER)
    failures = workload.figure("failures", "failed pushes", "count", LOWER)
    for repeat in range(profile.repeats):
        images = [small_image(profile.push_layers, profile.push_layer_size) for _ in range(count)]
        for name in order(repeat):
            server = servers[name]

            run = _timed_pushes(server, _push_jobs(repeat, images), count)
            measure_each(bench, name, run, [(seconds, _first), (failures, _second)])


def _timed_pushes(
    server: Server, jobs: Iterable[Job], count: int
) -> Callable[[], tuple[float, int]]:
    def run() -> tuple[float, int]:
        started = time.perf_counter()
        failed = run_many(server, jobs, count)
        return time.perf_counter() - started, failed

    return run


def _first(pair: tuple[float, int]) -> float:
    return pair[0]


def _second(pair: tuple[float, int]) -> float:
    return float(pair[1])


def _push_jobs(repeat: int, images: list[Image]) -> Iterable[Job]:
    for index, image in enumerate(images):

        async def job(conn: AsyncConnection, index: int = index, image: Image = image) -> None:
            await push_image(conn, f"bench/push{repeat}-{index:02d}", image, "v1")

        yield job
