"""Workloads 4-5: manifest GET/HEAD by tag and by digest, and ``tags/list`` of a repository
with many tags (first page and a page deep inside)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable

from bench import loadgen
from bench.content import MANIFEST_ACCEPT, small_image
from bench.http import AsyncConnection, Response, target_of
from bench.registry import push_image_sync, run_many, tag_jobs
from bench.results import HIGHER, LOWER, Workload
from bench.servers import Server
from bench.workloads import Bench, each_repeat, measure, measure_each

MANIFEST_REPO = "bench/manifest"
TAGS_REPO = "bench/tags"
ACCEPT = {"Accept": MANIFEST_ACCEPT}
WHOLE_PAGE = 1000
LINK = re.compile(r"\s*<([^>]+)>")


def run_manifests(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    image = small_image(2, 1024)
    for server in servers.values():
        push_image_sync(server, MANIFEST_REPO, image, "latest")
    workload = bench.workload(
        "manifest",
        4,
        "Manifest GET and HEAD",
        f"OCI image manifest ({len(image.manifest)} bytes) with Accept for OCI and Docker types, "
        f"{profile.manifest_concurrency} connections, {profile.load_seconds} s each; "
        "GET with wrk, HEAD with ab -i -k",
    )
    variants = [
        (m, by, ref)
        for m in ("GET", "HEAD")
        for by, ref in (("tag", "latest"), ("digest", image.digest))
    ]

    def body(repeat: int, server: Server) -> None:
        for method, by, reference in variants:
            url = f"http://{server.address}/v2/{MANIFEST_REPO}/manifests/{reference}"
            _measure_load(
                bench,
                workload,
                server,
                key=f"{method.lower()}_{by}",
                label=f"{method} by {by}",
                method=method,
                url=url,
                connections=profile.manifest_concurrency,
            )

    each_repeat(bench, servers, body)


def _measure_load(
    bench: Bench,
    workload: Workload,
    server: Server,
    *,
    key: str,
    label: str,
    method: str,
    url: str,
    connections: int,
) -> None:
    rps = workload.figure(key, label, "req/s", HIGHER)
    p99 = workload.figure(f"{key}_p99", f"{label}, p99 latency", "ms", LOWER)
    seconds = bench.profile.load_seconds
    tool = loadgen.ab_head if method == "HEAD" else loadgen.wrk

    def run() -> loadgen.LoadResult:
        return tool(url, seconds=seconds, connections=connections, headers=ACCEPT)

    measure_each(bench, server.name, run, [(rps, _rps), (p99, _p99)])


def _rps(result: loadgen.LoadResult) -> float:
    return result.rps


def _p99(result: loadgen.LoadResult) -> float:
    return result.p99_ms


def run_tags(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    count, page = profile.tag_count, profile.catalog_page
    names = [f"t{i:05d}" for i in range(count)]
    image = small_image(1, 1024)
    for server in servers.values():
        bench.log(f"  tagging one manifest {count} times on {server.name}")
        push_image_sync(server, TAGS_REPO, image, names[0])
        failures = run_many(
            server, tag_jobs(TAGS_REPO, image.manifest, names[1:]), profile.populate_concurrency
        )
        if failures:
            raise RuntimeError(f"{server.name}: {failures} tag PUTs failed")
    deep = names[count // 2]
    workload = bench.workload(
        "tags_list",
        5,
        "tags/list",
        f"one repository with {count:,} tags; ?n={page} (first page) and ?n={page}&last={deep} "
        f"(deep page); wrk, {profile.tags_concurrency} connections, {profile.load_seconds} s each",
    )
    pages = (
        ("first_page", "first page", f"?n={page}"),
        ("deep_page", "deep page", f"?n={page}&last={deep}"),
    )
    for server in servers.values():
        for _, label, query in pages:
            workload.notes.append(f"{server.name} {label}: {_describe_page(server, query)}")

    workload.notes.append(
        f"whole list: GET ?n={WHOLE_PAGE} and follow the Link headers to the end, 1 connection "
        "(equal work for both: Distribution 2.8 ignores n and last and always sends every tag)"
    )

    def body(repeat: int, server: Server) -> None:
        for key, label, query in pages:
            url = f"http://{server.address}/v2/{TAGS_REPO}/tags/list{query}"
            figure = workload.figure(key, label, "req/s", HIGHER)
            measure(
                bench,
                figure,
                server.name,
                _wrk_rps(url, profile.load_seconds, profile.tags_concurrency),
            )
        whole = workload.figure("whole_list", "whole list, following Link", "lists/s", HIGHER)
        measure(bench, whole, server.name, lambda: _whole_lists(server, profile.load_seconds))

    each_repeat(bench, servers, body)


def _wrk_rps(url: str, seconds: int, connections: int) -> Callable[[], float]:
    return lambda: loadgen.wrk(url, seconds=seconds, connections=connections).rps


def _whole_lists(server: Server, seconds: float) -> float:
    """Whole tag lists per second, one connection, each list fetched page by page."""

    async def loop() -> float:
        conn = AsyncConnection(server.host, server.port)
        lists, started = 0, time.perf_counter()
        try:
            while time.perf_counter() - started < seconds:
                target: str | None = f"/v2/{TAGS_REPO}/tags/list?n={WHOLE_PAGE}"
                while target is not None:
                    response = await conn.request("GET", target)
                    target = _next_page(response.expect(200, what="tags/list"))
                lists += 1
        finally:
            await conn.close()
        return lists / (time.perf_counter() - started)

    return asyncio.run(loop())


def _next_page(response: Response) -> str | None:
    found = LINK.match(response.headers.get("link", ""))
    return target_of(found.group(1)) if found else None


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
        size = len(response.body)
        return f"HTTP {response.status}, {size:,} bytes, {len(tags):,} tags, {link} Link"

    return asyncio.run(fetch())
