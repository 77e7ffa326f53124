"""Several dockyard nodes sharing one metadata database, one blob store and Redis.

The nodes here share a SQLite file and a filesystem root on one machine, which is enough to
show that no request depends on node-local state and that the shared cache stays correct.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from support.oci import assert_oci_error, make_image, push_blob, push_image, sha256
from support.redis_server import RedisServer, start_redis
from support.server import RunningServer, serving

CACHE_CONFIG = (
    "version: 0.1\nstorage:\n  cache:\n    blobdescriptor: redis\nredis:\n  addr: {addr}\n"
)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    directory = tmp_path / "redis"
    directory.mkdir()
    server = start_redis(directory)
    try:
        yield server
    finally:
        server.stop()


def _nodes(tmp_path: Path, stack: ExitStack, count: int, config: str | None) -> list[RunningServer]:
    data_dir = tmp_path / "shared-data"
    env = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}
    nodes = []
    for index in range(count):
        workdir = tmp_path / f"node{index}"
        workdir.mkdir()
        nodes.append(
            stack.enter_context(serving(workdir, data_dir=data_dir, env=env, config=config))
        )
    return nodes


def test_upload_split_across_three_nodes(tmp_path: Path, redis_server: RedisServer) -> None:
    data = os.urandom(3 * 1024 * 1024 + 11)
    config = CACHE_CONFIG.format(addr=redis_server.addr)
    with ExitStack() as stack:
        a, b, c = (stack.enter_context(n.client()) for n in _nodes(tmp_path, stack, 3, config))
        path = httpx.URL(a.post("/v2/spread/blobs/uploads/").headers["Location"]).path
        first = a.patch(path, content=data[:1_000_000], headers={"Content-Range": "0-999999"})
        assert first.status_code == 202
        second = b.patch(
            path, content=data[1_000_000:2_000_000], headers={"Content-Range": "1000000-1999999"}
        )
        assert second.status_code == 202, second.text
        assert c.get(path).headers["Range"] == "0-1999999"
        done = c.put(path, params={"digest": sha256(data)}, content=data[2_000_000:])
        assert done.status_code == 201, done.text
        for node in (a, b, c):
            assert node.get(f"/v2/spread/blobs/{sha256(data)}").content == data


def test_tag_moves_are_seen_by_every_node(tmp_path: Path, redis_server: RedisServer) -> None:
    config = CACHE_CONFIG.format(addr=redis_server.addr)
    with ExitStack() as stack:
        a, b = (stack.enter_context(n.client()) for n in _nodes(tmp_path, stack, 2, config))
        first, second = make_image(), make_image()
        push_image(a, "moving/tag", first, tag="latest")
        assert b.get("/v2/moving/tag/manifests/latest").content == first.manifest
        push_image(b, "moving/tag", second, tag="latest")
        assert a.get("/v2/moving/tag/manifests/latest").content == second.manifest


def test_blob_delete_on_one_node_is_not_served_from_cache_by_another(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = CACHE_CONFIG.format(addr=redis_server.addr)
    with ExitStack() as stack:
        a, b = (stack.enter_context(n.client()) for n in _nodes(tmp_path, stack, 2, config))
        data = os.urandom(5000)
        push_blob(a, "cached/blob", data)
        url = f"/v2/cached/blob/blobs/{sha256(data)}"
        assert a.head(url).status_code == 200  # fills the shared descriptor cache
        assert b.delete(url).status_code == 202
        assert a.head(url).status_code == 404
        assert_oci_error(a.get(url), 404, "BLOB_UNKNOWN")


def test_registry_keeps_working_when_redis_goes_away(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    config = CACHE_CONFIG.format(addr=redis_server.addr)
    with ExitStack() as stack:
        (node,) = _nodes(tmp_path, stack, 1, config)
        client = stack.enter_context(node.client())
        image = make_image()
        push_image(client, "resilient/app", image, tag="v1")
        redis_server.stop()
        other = make_image()
        push_image(client, "resilient/app", other, tag="v2")
        assert client.get("/v2/resilient/app/manifests/v1").content == image.manifest
        blob_url = f"/v2/resilient/app/blobs/{sha256(image.layers[0])}"
        assert client.get(blob_url).content == image.layers[0]
        refused = client.delete(blob_url)
        assert_oci_error(refused, 503, "UNAVAILABLE")
        assert client.head(blob_url).status_code == 200, "a refused delete must change nothing"
        redis_server.start()
        assert client.delete(blob_url).status_code == 202
        assert client.head(blob_url).status_code == 404
