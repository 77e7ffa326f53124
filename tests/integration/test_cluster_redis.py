"""Redis goes away under the scaled-out stack (examples/cluster/: 3 nodes, nginx, PostgreSQL, S3).

Redis holds only the blob descriptor cache and the upload locks, so without it pushes and pulls
go on (cache misses, node-local locks). Blob deletes are refused with a clean 503 while
the shared cache cannot be invalidated (``services/registry/descriptors.py``: ``forget`` raises
UNAVAILABLE when the delete cannot reach Redis), and once Redis is back nothing stale is served.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import redis

from support.cluster import (
    Cluster,
    Traffic,
    assert_clean_503,
    assert_image_readable,
    assert_no_internal_errors,
)
from support.oci import assert_oci_error, make_image, push_image, sha256


def _descriptor_keys(cluster: Cluster) -> list[bytes]:
    client = redis.Redis(host="127.0.0.1", port=cluster.redis.port)
    try:
        return list(client.scan_iter("dockyard:bd:*"))
    finally:
        client.close()


def _delete_when_redis_answers(client: httpx.Client, url: str, timeout: float = 30) -> None:
    """DELETE until it is no longer refused for the cache (the nodes notice Redis is back)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.delete(url)
        if response.status_code != 503:
            assert response.status_code == 202, response.text
            return
        assert time.monotonic() < deadline, "deletes still refused after Redis came back"
        time.sleep(0.2)


def _wait_for_cache_fill(cluster: Cluster, url: str, timeout: float = 30) -> None:
    """Until a HEAD on every node leaves descriptors in Redis again (the nodes use it)."""
    deadline = time.monotonic() + timeout
    while not _descriptor_keys(cluster):
        assert time.monotonic() < deadline, "the nodes never used Redis again"
        _head_everywhere(cluster, url)
        time.sleep(0.1)


def _head_everywhere(cluster: Cluster, url: str) -> list[int]:
    statuses = []
    for node in cluster.nodes:
        with node.client() as client:
            statuses.append(client.head(url).status_code)
    return statuses


def test_redis_stopped_during_traffic(cluster: Cluster) -> None:
    marks = cluster.log_marks()
    image = make_image()
    with cluster.client() as client:
        push_image(client, "redis-outage/kept", image, tag="v1")
    blob_url = f"/v2/redis-outage/kept/blobs/{sha256(image.layers[0])}"
    assert _head_everywhere(cluster, blob_url) == [200, 200, 200]
    assert _descriptor_keys(cluster), "the nodes share descriptors through Redis"
    traffic = Traffic(cluster.url, "redis-outage").start()
    try:
        traffic.wait_for_pushes(4)
        cluster.redis.stop()
        during = len(traffic.pushed)
        traffic.wait_for_pushes(during + 6)  # pushes and pulls go on without Redis
        with cluster.client() as client:
            assert_clean_503(client.delete(blob_url))
            assert _head_everywhere(cluster, blob_url) == [200, 200, 200], "nothing changed"
            assert client.get(blob_url).content == image.layers[0]
        cluster.redis.start()  # empty: it keeps nothing on disk
        with cluster.client() as client:
            _delete_when_redis_answers(client, blob_url)
        traffic.wait_for_pushes(len(traffic.pushed) + 4)
    finally:
        traffic.stop()
    assert traffic.bad == [], traffic.bad
    assert _head_everywhere(cluster, blob_url) == [404, 404, 404]
    with cluster.client() as client:
        assert_oci_error(client.get(blob_url), 404, "BLOB_UNKNOWN")
        for repo, tag, pushed in traffic.pushed:
            assert_image_readable(client, repo, tag, pushed)
    _wait_for_cache_fill(cluster, f"/v2/{repo}/blobs/{sha256(pushed.layers[0])}")
    logs = cluster.logs_since(marks)
    assert_no_internal_errors(logs)
    assert "continuing without it" in logs, "the outage is logged"


@contextmanager
def _frozen(cluster: Cluster) -> Iterator[None]:
    """Redis hangs (SIGSTOP), keeping what it holds, and resumes (SIGCONT) afterwards."""
    assert cluster.redis.process is not None
    pid = cluster.redis.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_redis_that_hangs_and_returns_with_old_entries_serves_nothing_stale(
    cluster: Cluster,
) -> None:
    """The harder case: Redis comes back still holding the descriptors it had. A delete that
    could not invalidate them was refused, so none of them describes a deleted blob."""
    marks = cluster.log_marks()
    image = make_image()
    with cluster.client() as client:
        push_image(client, "redis-hang/app", image, tag="v1")
    blob_url = f"/v2/redis-hang/app/blobs/{sha256(image.layers[0])}"
    config_url = f"/v2/redis-hang/app/blobs/{sha256(image.config)}"
    for url in (blob_url, config_url):  # fills the shared cache from every node
        assert _head_everywhere(cluster, url) == [200, 200, 200]
    layer_key = f"dockyard:bd:redis-hang/app@{sha256(image.layers[0])}".encode()
    cached = set(_descriptor_keys(cluster))
    assert layer_key in cached and len(cached) > 1
    a, b, _ = cluster.nodes
    with _frozen(cluster):
        with b.client() as on_b:
            assert_clean_503(on_b.delete(blob_url))
        assert _head_everywhere(cluster, blob_url) == [200, 200, 200]
        other = make_image()
        with a.client() as on_a:  # a push is only slower (lock and cache calls time out)
            push_image(on_a, "redis-hang/app", other, tag="v2")
    # Redis kept its entries; only the refused delete's own DEL may have run late, once Redis
    # resumed (it was sent before the node gave up), which drops an entry and is harmless.
    assert cached - {layer_key} <= set(_descriptor_keys(cluster))
    with b.client() as on_b:
        _delete_when_redis_answers(on_b, blob_url)
    assert _head_everywhere(cluster, blob_url) == [404, 404, 404]
    with cluster.client() as client:
        assert_image_readable(client, "redis-hang/app", "v2", other)
    assert_no_internal_errors(cluster.logs_since(marks))
