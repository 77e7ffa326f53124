"""Workloads 13-14: what event delivery costs the registry, and how fast it delivers.

13. Pushes and manifest GETs on dockyard with two registry:2 notification endpoints whose
    receiver answers after 1 s, against the same dockyard without endpoints (the *reference*
    column is dockyard without endpoints here, not Distribution): a slow receiver must not slow
    requests (target: at most 5 % slower). The endpoints are ``notifications.endpoints`` of
    the config file; project webhooks go through the same delivery engine.
14. Event delivery to a fast receiver on loopback, dockyard against Distribution sending the
    same ``notifications.endpoints``: manifests pushed at once across several repositories
    (dockyard keeps each repository's events in order, one in flight per repository and
    endpoint), events per second from the first push to the last event received, and the
    delay from each manifest PUT's 201 to its event's arrival (p50, p99).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import loadgen
from bench.content import MANIFEST_ACCEPT, Image, sha256, small_image
from bench.http import AsyncConnection, Job
from bench.receiver import Receiver
from bench.registry import push_image, push_image_sync, put_manifest, run_many
from bench.results import HIGHER, LOWER
from bench.servers import DOCKYARD, REFERENCE, Server, dockyard_command
from bench.workloads import Bench, measure, measure_each, order

SLOW_SECONDS = 1.0
DELIVERY_TIMEOUT = 600.0
GET_REPO = "bench/hooked"
ENDPOINT = """\
    - name: {name}
      url: {url}
      timeout: 5s
      threshold: 5
      backoff: 1s
"""


@dataclass
class NotifyingServer(Server):
    """A registry whose config sends notifications to ``urls``; ``program`` says which one
    runs (workload 13 runs dockyard in both columns)."""

    program: str = DOCKYARD
    urls: tuple[str, ...] = ()

    def command(self, config: Path) -> list[str]:
        if self.program == DOCKYARD:
            return [dockyard_command(), "serve", "--config", str(config)]
        return ["docker-registry", "serve", str(config)]

    def config_text(self) -> str:
        text = super().config_text()
        if not self.urls:
            return text
        entries = "".join(
            ENDPOINT.format(name=f"hook{i}", url=url) for i, url in enumerate(self.urls)
        )
        return text + "notifications:\n  endpoints:\n" + entries


def run_events(bench: Bench) -> None:
    slow, fast = Receiver(SLOW_SECONDS).start(), Receiver().start()
    try:
        _with_servers(bench, _overhead_servers(bench, slow), lambda s: run_overhead(bench, s))
        _with_servers(bench, _delivery_servers(bench, fast), lambda s: run_delivery(bench, s, fast))
    finally:
        slow.stop()
        fast.stop()


def _with_servers(
    bench: Bench, servers: dict[str, Server], body: Callable[[dict[str, Server]], None]
) -> None:
    bench.active = list(servers.values())
    try:
        for server in servers.values():
            server.start()
        body(servers)
    finally:
        bench.active = []
        for server in servers.values():
            server.stop()


def _overhead_servers(bench: Bench, slow: Receiver) -> dict[str, Server]:
    root, log = bench.workdir / "events-overhead", bench.profile.access_log
    urls = (slow.url + "/a", slow.url + "/b")
    return {
        REFERENCE: NotifyingServer(REFERENCE, root / "plain", access_log=log),
        DOCKYARD: NotifyingServer(DOCKYARD, root / "hooked", access_log=log, urls=urls),
    }


def _delivery_servers(bench: Bench, fast: Receiver) -> dict[str, Server]:
    root, log = bench.workdir / "events-delivery", bench.profile.access_log
    return {
        name: NotifyingServer(name, root / name, access_log=log, program=name, urls=(fast.url,))
        for name in (REFERENCE, DOCKYARD)
    }


# workload 13 -----------------------------------------------------------------------------------


def run_overhead(bench: Bench, servers: dict[str, Server]) -> None:
    profile = bench.profile
    count = profile.push_images
    workload = bench.workload(
        "webhook_overhead",
        13,
        "Pushes and manifest GETs with two endpoints on a slow receiver",
        f"dockyard with two notification endpoints whose receiver answers after "
        f"{SLOW_SECONDS:g} s (dockyard column) against dockyard without endpoints (reference "
        f"column); {count} images pushed at once ({count} connections, config + "
        f"{profile.push_layers} x {profile.push_layer_size // 1024} KiB layers each); GET by "
        f"tag, wrk, {profile.manifest_concurrency} connections, {profile.load_seconds} s",
    )
    pushes = workload.figure("pushes", f"{count} concurrent pushes", "images/s", HIGHER)
    rps = workload.figure("get_tag", "manifest GET by tag", "req/s", HIGHER)
    p99 = workload.figure("get_tag_p99", "manifest GET by tag, p99 latency", "ms", LOWER)
    image = small_image(2, 1024)
    for server in servers.values():
        push_image_sync(server, GET_REPO, image, "latest")
    for repeat in range(profile.repeats):
        images = [small_image(profile.push_layers, profile.push_layer_size) for _ in range(count)]
        for name in order(repeat):
            jobs = _push_jobs(f"bench/hooked{repeat}", images)
            measure(bench, pushes, name, _images_per_second(servers[name], jobs, count))
            url = f"http://{servers[name].address}/v2/{GET_REPO}/manifests/latest"
            run = _wrk(url, profile.load_seconds, profile.manifest_concurrency)
            measure_each(bench, name, run, [(rps, _rps), (p99, _p99)])


def _push_jobs(prefix: str, images: list[Image]) -> list[Job]:
    jobs: list[Job] = []
    for index, image in enumerate(images):

        async def job(conn: AsyncConnection, index: int = index, image: Image = image) -> None:
            await push_image(conn, f"{prefix}-{index:02d}", image, "v1")

        jobs.append(job)
    return jobs


def _images_per_second(server: Server, jobs: list[Job], count: int) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        failed = run_many(server, jobs, count)
        if failed:
            raise RuntimeError(f"{failed} of {count} pushes failed")
        return count / (time.perf_counter() - started)

    return run


def _wrk(url: str, seconds: int, connections: int) -> Callable[[], loadgen.LoadResult]:
    accept = {"Accept": MANIFEST_ACCEPT}
    return lambda: loadgen.wrk(url, seconds=seconds, connections=connections, headers=accept)


def _rps(result: loadgen.LoadResult) -> float:
    return result.rps


def _p99(result: loadgen.LoadResult) -> float:
    return result.p99_ms


# workload 14 -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    events_per_second: float
    delay_p50_ms: float
    delay_p99_ms: float


def run_delivery(bench: Bench, servers: dict[str, Server], receiver: Receiver) -> None:
    profile = bench.profile
    count, repositories = profile.event_count, profile.event_repositories
    workload = bench.workload(
        "event_delivery",
        14,
        "Event delivery to a fast receiver",
        f"{count} manifests pushed at once ({profile.event_push_concurrency} connections) into "
        f"{repositories} repositories (blobs pushed before), one notification endpoint on a "
        "loopback receiver answering 200 at once; dockyard against Distribution with the same "
        "notifications.endpoints entry. Events/s: manifests / (last event received - first "
        "PUT sent); delay: each manifest's 201 to its event's arrival",
    )
    rate = workload.figure("events_per_second", "delivery throughput", "events/s", HIGHER)
    p50 = workload.figure("delay_p50", "push to delivery, p50", "ms", LOWER)
    p99 = workload.figure("delay_p99", "push to delivery, p99", "ms", LOWER)
    base = small_image(1, 1024)
    names = [f"bench/events{i:02d}" for i in range(repositories)]
    for server in servers.values():
        for repository in names:
            push_image_sync(server, repository, base, "base")
    for repeat in range(profile.repeats):
        for name in order(repeat):
            manifests = _variants(base.manifest, f"{repeat}-{name}", names, count)
            run = _delivery(servers[name], receiver, manifests, profile.event_push_concurrency)
            measure_each(bench, name, run, [
                (rate, lambda d: d.events_per_second),
                (p50, lambda d: d.delay_p50_ms),
                (p99, lambda d: d.delay_p99_ms),
            ])  # fmt: skip
    workload.notes.append(
        f"receiver saw {receiver.repeats} repeated manifest events in the last sample "
        "(at-least-once delivery; 0 expected without failures)"
    )


def _variants(
    manifest: bytes, label: str, repositories: list[str], count: int
) -> list[tuple[str, bytes]]:
    """``count`` distinct manifests (an annotation each), spread over ``repositories``."""
    parsed = json.loads(manifest)
    found = []
    for index in range(count):
        parsed["annotations"] = {"bench.sample": label, "bench.index": str(index)}
        found.append((repositories[index % len(repositories)], json.dumps(parsed).encode()))
    return found


def _delivery(
    server: Server, receiver: Receiver, manifests: list[tuple[str, bytes]], concurrency: int
) -> Callable[[], Delivered]:
    def run() -> Delivered:
        receiver.reset()
        pushed: dict[str, float] = {}
        started = time.perf_counter()
        failed = run_many(server, _manifest_jobs(manifests, pushed), concurrency)
        if failed:
            raise RuntimeError(f"{failed} of {len(manifests)} manifest PUTs failed")
        arrived = receiver.wait_for(set(pushed), DELIVERY_TIMEOUT)
        delays = sorted((arrived[d] - pushed[d]) * 1000 for d in pushed)
        rate = len(pushed) / (max(arrived.values()) - started)
        return Delivered(rate, statistics.median(delays), _percentile(delays, 0.99))

    return run


def _manifest_jobs(manifests: list[tuple[str, bytes]], pushed: dict[str, float]) -> Iterable[Job]:
    for index, (repository, body) in enumerate(manifests):

        async def job(
            conn: AsyncConnection,
            index: int = index,
            repository: str = repository,
            body: bytes = body,
        ) -> None:
            await put_manifest(conn, repository, f"t{index}", body)
            pushed[sha256(body)] = time.perf_counter()

        yield job


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
