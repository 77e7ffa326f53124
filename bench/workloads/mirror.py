"""Workloads 15-16: the pull-through cache, side by side with Distribution in proxy mode.

One plain Distribution is the upstream ("origin"); both registries run as its cache with the
same ``proxy.remoteurl`` (dockyard also allows the loopback upstream in its outbound guard).

- 15, warm pull: an image (config + layers) pulled through each cache once untimed (the miss),
  then timed: the manifest by tag (which both confirm with the origin by HEAD, as registry:2
  does for tags) and every blob, on one connection.
- 16, cold pull: a new big blob pushed to the origin (untimed), then a full GET of it through
  each cache, its first (a miss: fetched, verified, stored and streamed at once), and a full
  GET straight from the origin. The second figure compares dockyard's cold pull with that
  direct pull ("reference" column: the origin itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench.content import BlobFile, Image, sha256, small_image
from bench.http import connect, get_discard
from bench.registry import get_blob, push_image_sync, push_monolithic
from bench.results import HIGHER, Figure
from bench.servers import DOCKYARD, NAMES, REFERENCE, Server
from bench.workloads import Bench, mb, measure, measure_each, order

REPO = "library/bench"
BLOB_REPO = "library/big"
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def make_caches(workdir: Path, origin: Server, access_log: bool) -> dict[str, Server]:
    proxy = f"proxy:\n  remoteurl: http://{origin.address}\n"
    allowed = {"REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]"}
    return {
        name: Server(
            name,
            workdir / name,
            access_log=access_log,
            extra_config=proxy,
            extra_env=allowed if name == DOCKYARD else {},
        )
        for name in NAMES
    }


def run_mirror(bench: Bench, workdir: Path) -> None:
    origin = Server(REFERENCE, workdir / "origin", access_log=bench.profile.access_log)
    caches = make_caches(workdir, origin, bench.profile.access_log)
    servers = [origin, *caches.values()]
    try:
        for server in servers:
            server.start()
        bench.active = servers
        run_warm_pull(bench, origin, caches)
        run_cold_pull(bench, origin, caches, workdir)
    finally:
        bench.active = []
        for server in servers:
            server.stop()


def pull_image(server: Server, repo: str, tag: str, image: Image) -> int:
    """GET the manifest by tag and every blob on one connection; the bytes received."""
    conn = connect(server.host, server.port)
    total = 0
    try:
        targets = [f"/v2/{repo}/manifests/{tag}"]
        targets += [f"/v2/{repo}/blobs/{sha256(blob)}" for blob in image.blobs]
        for target in targets:
            status, received = get_discard(conn, target, ACCEPT)
            if status != 200:
                raise RuntimeError(f"GET {target}: HTTP {status}")
            total += received
    finally:
        conn.close()
    expected = len(image.manifest) + sum(map(len, image.blobs))
    if total != expected:
        raise RuntimeError(f"pulled {total} of {expected} bytes")
    return total


def _rate(action: Callable[[], int]) -> float:
    started = time.perf_counter()
    size = action()
    return size / 1e6 / (time.perf_counter() - started)


def run_warm_pull(bench: Bench, origin: Server, caches: dict[str, Server]) -> None:
    profile = bench.profile
    layers, size = profile.skopeo_layers, profile.skopeo_layer_size
    image = small_image(layers, size)
    push_image_sync(origin, REPO, image, "v1")
    figure = bench.workload(
        "mirror_warm",
        15,
        "Pull-through cache: warm pull",
        f"an image of {layers} x {mb(size)} layers through each registry as a cache of one "
        "Distribution (proxy.remoteurl), after one untimed pull: manifest by tag (confirmed "
        "upstream by HEAD) and every blob, 1 connection",
    ).figure("pull", "warm image pull", "MB/s", HIGHER)
    for cache in caches.values():  # the misses: from here on both serve from storage
        pull_image(cache, REPO, "v1", image)
    for repeat in range(profile.repeats):
        for name in order(repeat):
            cache = caches[name]
            measure(bench, figure, name, _pull_sample(cache, image))


def _pull_sample(cache: Server, image: Image) -> Callable[[], float]:
    return lambda: _rate(lambda: pull_image(cache, REPO, "v1", image))


def run_cold_pull(bench: Bench, origin: Server, caches: dict[str, Server], workdir: Path) -> None:
    blob = BlobFile.create(workdir / "cold.bin", bench.profile.blob_size)
    workload = bench.workload(
        "mirror_cold",
        16,
        "Pull-through cache: cold blob pull",
        f"a new {mb(blob.size)} blob pushed to the origin, then its first full GET through each "
        "cache (a miss), and a full GET straight from the origin; 1 connection each",
    )
    cold = workload.figure("cold_get", "cold GET through the cache", "MB/s", HIGHER)
    direct = workload.figure(
        "vs_direct", "dockyard's cold GET vs a direct GET (reference: the origin)", "MB/s", HIGHER
    )
    try:
        for repeat in range(bench.profile.repeats):
            blob.refresh()
            push_monolithic(origin, BLOB_REPO, blob)
            get_blob(origin, BLOB_REPO, blob)  # untimed: the origin reads from the page cache
            measure(bench, direct, REFERENCE, _get(origin, blob))
            for name in order(repeat):
                if name == DOCKYARD:
                    measure_both(bench, cold, direct, _get(caches[name], blob))
                else:
                    measure(bench, cold, name, _get(caches[name], blob))
    finally:
        blob.path.unlink()


def measure_both(bench: Bench, cold: Figure, direct: Figure, sample: Callable[[], float]) -> None:
    """dockyard's cold GET counts for both figures (one sample: a second GET would be warm)."""
    measure_each(bench, DOCKYARD, sample, [(cold, float), (direct, float)])


def _get(server: Server, blob: BlobFile) -> Callable[[], float]:
    def sample() -> float:
        started = time.perf_counter()
        get_blob(server, BLOB_REPO, blob)
        return blob.size / 1e6 / (time.perf_counter() - started)

    return sample
