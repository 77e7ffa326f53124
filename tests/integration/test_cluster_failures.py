"""Failures of the scaled-out stack, under traffic: a node dies, PostgreSQL restarts, S3 goes away.

The stack is examples/cluster/ (``support.cluster``): three nodes behind nginx on PostgreSQL,
SeaweedFS and Redis. What must hold each time: clients see successes or clean 503s (the OCI
envelope, never a 500 or a proxy's 502), nothing committed is lost or corrupt, no metadata
points at bytes that are not there, and the surviving processes recover by themselves.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import redis

from e2e.clientkit import Clients, OciLayout, read_layout
from e2e.clientkit import make_image as make_layout_image
from support.cluster import (
    Cluster,
    Node,
    Traffic,
    assert_blobs_whole_or_absent,
    assert_clean_503,
    assert_every_manifest_readable,
    assert_image_readable,
    assert_no_internal_errors,
)
from support.oci import assert_oci_error, make_image, sha256

MIB = 1024 * 1024


# ---------------------------------------------------------------------------- a node dies


def _start(client: httpx.Client, repo: str, first_chunk: bytes) -> str:
    """Start an upload and store its first chunk; returns the session path."""
    started = client.post(f"/v2/{repo}/blobs/uploads/")
    assert started.status_code == 202, started.text
    path = httpx.URL(started.headers["Location"]).path
    stored = client.patch(path, content=first_chunk)
    assert stored.status_code == 202, stored.text
    return path


def _hold_patch_open(node: Node, path: str, head: bytes, release: threading.Event) -> None:
    """A PATCH that sends ``head`` and then stalls: in flight when the node dies."""
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        yield head
        sent.set()
        release.wait(30)
        yield b"never stored"

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the node dies under it
            httpx.patch(node.url + path, content=body(), timeout=30)

    threading.Thread(target=send, daemon=True).start()
    assert sent.wait(10), "the in-flight PATCH never started"


def _wait_for_lock(cluster: Cluster, upload_id: str) -> None:
    """Until the victim holds the session's upload lock in Redis (its PATCH is being served)."""
    client = redis.Redis(host="127.0.0.1", port=cluster.redis.port)
    deadline = time.monotonic() + 10
    try:
        while not client.exists(f"dockyard:lock:upload:{upload_id}"):
            assert time.monotonic() < deadline, "the in-flight PATCH never took its lock"
            time.sleep(0.02)
    finally:
        client.close()


def _skopeo_pushes(clients: Clients, cluster: Cluster, sources: list[Path]) -> list[int]:
    """Push every layout through nginx from three threads; returns the ones that failed."""

    def push(index: int) -> int | None:
        flags = ["--retry-times", "3", "--dest-tls-verify=false"]
        target = f"docker://{cluster.host}/load/img{index}:v1"
        result = clients.skopeo("copy", *flags, f"oci:{sources[index]}:v1", target, check=False)
        return None if result.returncode == 0 else index

    with ThreadPoolExecutor(3) as pool:
        return [i for i in pool.map(push, range(len(sources))) if i is not None]


def _victim_served_pushes(victim: Node, mark: int) -> bool:
    return '"repository":"load/' in victim.log()[mark:].replace(" ", "")


def _layouts(tmp_path: Path, count: int) -> list[Path]:
    sources = []
    for index in range(count):
        image = make_layout_image([{"big.bin": os.urandom(4 * MIB)}, {"n": str(index).encode()}])
        OciLayout(tmp_path / f"img{index}").add_image(image, "v1")
        sources.append(tmp_path / f"img{index}")
    return sources


def _resume(node: Node, path: str, data: bytes, offset: int) -> tuple[int, float]:
    """PATCH the rest of ``data`` from ``offset``; (status, seconds it took)."""
    started = time.monotonic()
    headers = {"Content-Range": f"{offset}-{len(data) - 1}"}
    with node.client() as client:
        status = client.patch(path, content=data[offset:], headers=headers).status_code
    return status, time.monotonic() - started


def test_node_killed_mid_push(tmp_path: Path, cluster: Cluster) -> None:
    """SIGKILL one node while skopeo pushes through nginx and while it serves a chunk.

    Pushes that failed succeed when the client retries; every image is whole. Of the two
    upload sessions the victim served, the idle one goes on elsewhere as if nothing happened,
    and the one whose chunk was in flight reports the bytes really stored (the spec would also
    allow a 404; dockyard keeps the session) and continues from there on another node.
    """
    a, victim, c = cluster.nodes
    marks = cluster.log_marks()
    idle_data, flight_data = os.urandom(2 * MIB + 7), os.urandom(2 * MIB + 9)
    with victim.client() as on_victim:
        idle = _start(on_victim, "killed/idle", idle_data[:MIB])
        flight = _start(on_victim, "killed/flight", flight_data[:MIB])
    release = threading.Event()
    _hold_patch_open(victim, flight, flight_data[MIB : MIB + 256 * 1024], release)
    _wait_for_lock(cluster, flight.rsplit("/", 1)[1])
    clients, sources = Clients(tmp_path / "clients"), _layouts(tmp_path, 6)

    with ThreadPoolExecutor(2) as background:
        pushing = background.submit(_skopeo_pushes, clients, cluster, sources)
        deadline = time.monotonic() + 60
        while not _victim_served_pushes(victim, marks[1]) and not pushing.done():
            assert time.monotonic() < deadline, "the victim never served a push"
            time.sleep(0.02)
        victim.kill()
        release.set()
        with a.client() as on_a:
            status = on_a.get(flight)
        assert status.status_code == 204 and status.headers["Range"] == f"0-{MIB - 1}"
        # Waits for the dead node's lock lease to run out, while the pushes go on.
        resuming = background.submit(_resume, a, flight, flight_data, MIB)
        failed = pushing.result(timeout=300)
        for index in failed:  # the client's own retry, after its retries inside one copy
            target = f"docker://{cluster.host}/load/img{index}:v1"
            clients.skopeo("copy", "--dest-tls-verify=false", f"oci:{sources[index]}:v1", target)
        with cluster.client() as client:
            for index, source in enumerate(sources):
                manifest, _ = read_layout(source, "v1")
                got = client.get(f"/v2/load/img{index}/manifests/v1")
                assert got.status_code == 200 and got.content == manifest
            assert assert_every_manifest_readable(client, "load") == len(sources)
        resumed, waited = resuming.result(timeout=60)
    assert resumed == 202 and waited < 15, (resumed, waited)

    with a.client() as on_a, c.client() as on_c:
        assert on_a.get(idle).headers["Range"] == f"0-{MIB - 1}"
        rest = on_a.patch(idle, content=idle_data[MIB:])
        assert rest.status_code == 202, rest.text
        for repo, path, data in (("idle", idle, idle_data), ("flight", flight, flight_data)):
            done = on_c.put(path, params={"digest": sha256(data)})
            assert done.status_code == 201, done.text
            assert on_a.get(f"/v2/killed/{repo}/blobs/{sha256(data)}").content == data
    assert_no_internal_errors(a.log()[marks[0] :] + c.log()[marks[2] :])


# ---------------------------------------------------------------------------- PostgreSQL


def test_postgres_restart_during_traffic(cluster: Cluster) -> None:
    marks, pids = cluster.log_marks(), [node.pid for node in cluster.nodes]
    traffic = Traffic(cluster.url, "pg-restart").start()
    try:
        traffic.wait_for_pushes(4)
        cluster.postgres.stop()
        traffic.wait("503s while PostgreSQL is down", lambda: traffic.count(503) >= 2)
        repo, tag, _ = traffic.pushed[0]
        probes = [
            ("GET", f"/v2/{repo}/manifests/{tag}"),
            ("HEAD", f"/v2/{repo}/manifests/{tag}"),
            ("GET", f"/v2/{repo}/tags/list"),
            ("GET", "/v2/_catalog"),
            ("POST", f"/v2/{repo}/blobs/uploads/"),
        ]
        with cluster.client() as client, ThreadPoolExecutor(len(probes)) as pool:
            for response in pool.map(lambda probe: client.request(*probe), probes):
                assert_clean_503(response)
            assert client.get("/health").status_code == 200, "the nodes themselves are fine"
        cluster.postgres.start()
        traffic.wait_for_pushes(len(traffic.pushed) + 4)
    finally:
        traffic.stop()
    assert traffic.bad == []
    assert [node.pid for node in cluster.nodes] == pids and all(n.alive for n in cluster.nodes)
    for node in cluster.nodes:  # every node, straight: every pushed image is whole
        with node.client() as client:
            for repo, tag, image in traffic.pushed:
                assert_image_readable(client, repo, tag, image)
    assert_no_internal_errors(cluster.logs_since(marks))


# ---------------------------------------------------------------------------- S3


def wait_for_debug_health(port: int, status: int, timeout: float = 30) -> dict[str, Any]:
    """Poll a node's /debug/health until it answers ``status``; its JSON body."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"http://127.0.0.1:{port}/debug/health", timeout=5)
        if response.status_code == status:
            return dict(response.json())
        if time.monotonic() > deadline:
            raise AssertionError(f"/debug/health on {port}: {response.status_code} {response.text}")
        time.sleep(0.1)


def test_s3_outage_during_traffic(cluster: Cluster) -> None:
    marks = cluster.log_marks()
    traffic = Traffic(cluster.url, "s3-outage").start()
    try:
        traffic.wait_for_pushes(4)
        cluster.weed.stop()
        traffic.wait("503s while S3 is down", lambda: traffic.count(503) >= 4)
        for node in [n for n in cluster.nodes if n.alive]:  # readiness: storage down, database ok
            checks = wait_for_debug_health(node.debug_port, 503)["checks"]
            assert checks["database"] == "ok" and checks["storage"] != "ok", checks
        repo, tag, image = traffic.pushed[0]
        fresh = make_image()
        with cluster.client() as client:
            assert_clean_503(client.get(f"/v2/{repo}/blobs/{sha256(image.layers[0])}"))
            assert client.get(f"/v2/{repo}/manifests/{tag}").content == image.manifest
            assert_clean_503(client.post(f"/v2/{repo}/blobs/uploads/"))
            for blob in [fresh.config, *fresh.layers]:
                pushed = client.post(
                    f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(blob)}, content=blob
                )
                assert_clean_503(pushed)
                assert client.head(f"/v2/{repo}/blobs/{sha256(blob)}").status_code == 404
            refused = client.put(
                f"/v2/{repo}/manifests/fresh",
                content=fresh.manifest,
                headers={"Content-Type": fresh.media_type},
            )
            assert_oci_error(refused, 400, "MANIFEST_BLOB_UNKNOWN")
        cluster.weed.start()
        traffic.wait_for_pushes(len(traffic.pushed) + 4)
        for node in [n for n in cluster.nodes if n.alive]:
            wait_for_debug_health(node.debug_port, 200)
    finally:
        traffic.stop()
    assert traffic.bad == []
    assert traffic.failed, "some pushes met the outage"
    with cluster.client() as client:
        checked = assert_every_manifest_readable(client, "s3-outage")
        assert checked == len(traffic.pushed), "a tag for every completed push, and no other"
        for repo, image in traffic.failed:
            assert_blobs_whole_or_absent(client, repo, image)
        assert_blobs_whole_or_absent(client, repo, fresh)
    assert_no_internal_errors(cluster.logs_since(marks))
