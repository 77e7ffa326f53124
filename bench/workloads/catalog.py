"""Workloads 6 and 10: ``_catalog`` page time at two repository counts, and cold start at the
same counts, on a fresh pair of registries that hold nothing but those repositories.

Each repository gets one tiny image (a config blob, mounted from the first repository, and a
manifest with no layers, tagged ``v1``), pushed over HTTP by a concurrent client: Distribution
lists a repository in ``_catalog`` only once it has a blob link. The pair grows from the small
count to the big one, and both figures are taken at each step.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from bench import loadgen
from bench.content import tiny_image
from bench.http import AsyncConnection
from bench.registry import push_image_sync, repository_jobs, run_many
from bench.results import LOWER, Workload
from bench.servers import Server, make_pair
from bench.workloads import Bench, each_repeat, measure, measure_each

PREFIX = "bench/r"


def repo_name(index: int) -> str:
    return f"{PREFIX}{index:06d}"


def run_catalog_and_cold_start(bench: Bench, workdir: Path, storage: str) -> None:
    """Workloads 6 and 10 with both registries' storage under ``workdir`` (on ``storage``)."""
    profile = bench.profile
    small, big = profile.catalog_counts
    catalog = bench.workload(
        "catalog",
        6,
        "_catalog page time",
        f"?n={profile.catalog_page} first page and a page from the middle "
        f"(last=<repository #{small // 2:,} / #{big // 2:,}), {small:,} then {big:,} repositories, "
        f"wrk, {profile.catalog_concurrency} connection, {profile.load_seconds} s each; "
        f"storage on {storage}",
    )
    cold = bench.workload(
        "cold_start",
        10,
        "Cold start",
        f"launch to first 200 on /v2/ with {small:,} and with {big:,} repositories stored "
        f"(page cache warm), storage on {storage}",
    )
    servers = make_pair(workdir, "catalog", bench.profile.access_log)
    bench.active = list(servers.values())
    try:
        for server in servers.values():
            server.start()
        populated = 0
        for count in (small, big):
            _populate(bench, servers, catalog, populated, count)
            populated = count
            _measure_pages(bench, servers, catalog, count)
            _measure_cold_start(bench, servers, cold, count)
    finally:
        bench.active = []
        for server in servers.values():
            server.stop()


def _populate(
    bench: Bench, servers: dict[str, Server], workload: Workload, start: int, stop: int
) -> None:
    image = tiny_image()
    source = repo_name(0)
    for server in servers.values():
        bench.log(f"  pushing repositories {start:,}..{stop:,} to {server.name}")
        began = time.perf_counter()
        if start == 0:
            push_image_sync(server, source, image, "v1")
        names = (repo_name(i) for i in range(max(start, 1), stop))
        jobs = repository_jobs(names, source, image.config, image.manifest)
        failures = run_many(server, jobs, bench.profile.populate_concurrency)
        seconds = time.perf_counter() - began
        if failures:
            raise RuntimeError(f"{server.name}: {failures} pushes failed while populating")
        workload.notes.append(
            f"{server.name}: pushing repositories {start:,} to {stop:,} took {seconds:.1f} s "
            f"({(stop - start) / seconds:,.0f} repositories/s: a blob mount and a manifest PUT "
            f"each, {bench.profile.populate_concurrency} connections)"
        )


def _measure_pages(
    bench: Bench, servers: dict[str, Server], workload: Workload, count: int
) -> None:
    profile = bench.profile
    page = profile.catalog_page
    pages = (("first", f"?n={page}"), ("deep", f"?n={page}&last={repo_name(count // 2)}"))
    for server in servers.values():
        for label, query in pages:
            workload.notes.append(
                f"{server.name}, {count:,} repositories, {label} page: {_describe(server, query)}"
            )

    def body(repeat: int, server: Server) -> None:
        for label, query in pages:
            figure = workload.figure(
                f"{label}_{count}", f"{label} page, {count:,} repositories", "ms/page", LOWER
            )
            url = f"http://{server.address}/v2/_catalog{query}"

            def run(url: str = url) -> loadgen.LoadResult:
                return loadgen.wrk(
                    url, seconds=profile.load_seconds, connections=profile.catalog_concurrency
                )

            measure_each(bench, server.name, run, [(figure, _mean_ms)])

    each_repeat(bench, servers, body)


def _mean_ms(result: loadgen.LoadResult) -> float:
    return result.mean_ms


def _measure_cold_start(
    bench: Bench, servers: dict[str, Server], workload: Workload, count: int
) -> None:
    figure = workload.figure(f"seconds_{count}", f"{count:,} repositories", "s", LOWER)

    def body(repeat: int, server: Server) -> None:
        server.stop()
        measure(bench, figure, server.name, server.start)

    each_repeat(bench, servers, body)


def _describe(server: Server, query: str) -> str:
    async def fetch() -> str:
        conn = AsyncConnection(server.host, server.port)
        try:
            response = await conn.request("GET", f"/v2/_catalog{query}")
        finally:
            await conn.close()
        names = json.loads(response.body).get("repositories") or []
        link = "with" if "link" in response.headers else "no"
        return f"HTTP {response.status}, {len(names):,} repositories, {link} Link"

    return asyncio.run(fetch())
