"""Workloads 4-5: manifest GET/HEAD by tag and by digest, and ``tags/list`` of a repository
with many tags (first page and a page deep inside)."""

from __future__ import annotations

import asyncio
import json

from bench import loadgen
from bench.content import MANIFEST_ACCEPT, small_image
from bench.http import AsyncConnection
from bench.registry import push_image_sync, run_many, tag_jobs
from bench.results import HIGHER, LOWER, Workload
from bench.servers import Server
from bench.workloads import Bench, each_repeat, measure

MANIFEST_REPO = "bench/manifest"
TAGS_REPO = "bench/tags"
ACCEPT = {"Accept": MANIFEST_ACCEPT}


def run_manifests(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    image = small_image(2, 1024)
    for server in servers.values():
        push_image_sync(server, MANIFEST_REPO, image, "latest")
    workload = bench.workload(
        "manifest", 4, "Manifest GET and HEAD",
        f"OCI image manifest ({len(image.manifest)} bytes) with Accept for OCI and Docker types, "
        f"{profile.manifest_concurrency} connections, {profile.load_seconds} s each; "
        "GET with wrk, HEAD with ab -i -k",
    )
    variants = [(m, by, ref) for m in ("GET", "HEAD") for by, ref in
                (("tag", "latest"), ("digest", image.digest))]

    def body(repeat: int, server: Server) -> None:
        for method, by, reference in variants:
            url = f"http://{server.address}/v2/{MANIFEST_REPO}/manifests/{reference}"
            _measure_load(bench, workload, server, f"{method.lower()}_{by}",
                          f"{method} by {by}", method, url, profile.manifest_concurrency)

    each_repeat(bench, servers, body)


def _measure_load(
    bench: Bench, workload: Workload, server: Server, key: str, label: str, method: str,
    url: str, connections: int,
) -> None:
    rps = workload.figure(key, label, "req/s", HIGHER)
    p99 = workload.figure(f"{key}_p99", f"{label}, p99 latency", "ms", LOWER)
    seconds = bench.profile.load_seconds
    if method == "HEAD":
        result = measure(bench, rps, server.name, lambda: _remember(loadgen.ab_head(
            url, seconds=seconds, connections=connections, headers=ACCEPT)))
    else:
        result = measure(bench, rps, server.name, lambda: _remember(loadgen.wrk(
            url, seconds=seconds, connections=connections, headers=ACCEPT)))
    if result is not None:
        measure(bench, p99, server.name, lambda: _LAST[0].p99_ms)


_LAST: list[loadgen.LoadResult] = []


def _remember(result: loadgen.LoadResult) -> float:
    _LAST[:] = [result]
    return result.rps


def run_tags(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    count, page = profile.tag_count, profile.catalog_page
    names = [f"t{i:05d}" for i in range(count)]
    image = small_image(1, 1024)
    for server in servers.values():
        bench.log(f"  tagging one manifest {count} times on {server.name}")
        push_image_sync(server, TAGS_REPO, image, names[0])
        failures = run_many(server, tag_jobs(TAGS_REPO, image.manifest, names[1:]),
                            profile.populate_concurrency)
        if failures:
            raise RuntimeError(f"{server.name}: {failures} tag PUTs failed")
    deep = names[count // 2]
    workload = bench.workload(
        "tags_list", 5, "tags/list",
        f"one repository with {count:,} tags; ?n={page} (first page) and ?n={page}&last={deep} "
        f"(deep page); wrk, {profile.tags_concurrency} connections, {profile.load_seconds} s each",
    )
    pages = (("first_page", "first page", f"?n={page}"),
             ("deep_page", "deep page", f"?n={page}&last={deep}"))
    for server in servers.values():
        for _, label, query in pages:
            workload.notes.append(f"{server.name} {label}: {_describe_page(server, query)}")

    def body(repeat: int, server: Server) -> None:
        for key, label, query in pages:
            url = f"http://{server.address}/v2/{TAGS_REPO}/tags/list{query}"
            figure = workload.figure(key, label, "req/s", HIGHER)
            measure(bench, figure, server.name, lambda u=url: loadgen.wrk(  # type: ignore[misc]
                u, seconds=profile.load_seconds, connections=profile.tags_concurrency).rps)

    each_repeat(bench, servers, body)


def _describe_page(server: Server, query: str) -> str:
    """What one response holds: bytes, tags, and whether it links a next page."""

    async def fetch() -> str:
        conn = AsyncConnection(server.host, server.port)
        try:
            response = await conn.request("GET", f"/v2/{TAGS_REPO}/tags/list{query}")
        finally:
            await conn.close()
        tags = json.loads(response.body).get("tags") or []
        link = "with" if "link" in response.headers else "no"
        return f"HTTP {response.status}, {len(response.body):,} bytes, {len(tags):,} tags, {link} Link"

    return asyncio.run(fetch())
