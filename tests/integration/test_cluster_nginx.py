"""Three dockyard nodes behind nginx, sharing metadata, blobs and Redis."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import OciLayout, read_layout
from e2e.clientkit import make_image as make_layout_image
from support.nginx import nginx_in_front
from support.redis_server import RedisServer, start_redis
from support.server import RunningServer, serving

CONFIG = "version: 0.1\nstorage:\n  cache:\n    blobdescriptor: redis\nredis:\n  addr: {addr}\n"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[RunningServer]]]:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis_server: RedisServer = start_redis(redis_dir)
    data_dir = tmp_path / "shared"
    env = {"REGISTRY_STORAGE_DELETE_ENABLED": "true"}
    with ExitStack() as stack:
        stack.callback(redis_server.stop)
        nodes = []
        for index in range(3):
            workdir = tmp_path / f"node{index}"
            workdir.mkdir()
            config = CONFIG.format(addr=redis_server.addr)
            nodes.append(
                stack.enter_context(serving(workdir, data_dir=data_dir, env=env, config=config))
            )
        url = stack.enter_context(nginx_in_front(tmp_path, [n.port for n in nodes]))
        yield url, nodes


def _skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, timeout=300, check=False
    )


def _layout(tmp_path: Path, name: str, size: int) -> Path:
    directory = tmp_path / name
    layout = OciLayout(directory)
    image = make_layout_image([{f"{name}.bin": os.urandom(size)}, {"common.txt": b"shared layer"}])
    layout.add_image(image, "v1")
    return directory


def test_skopeo_push_and_pull_through_nginx(
    tmp_path: Path, cluster: tuple[str, list[RunningServer]]
) -> None:
    url, nodes = cluster
    host = url.removeprefix("http://")
    source = _layout(tmp_path, "app", 3 * 1024 * 1024)
    pushed = _skopeo(
        "copy", "--dest-tls-verify=false", f"oci:{source}:v1", f"docker://{host}/team/app:v1"
    )
    assert pushed.returncode == 0, pushed.stderr
    out = tmp_path / "out"
    pulled = _skopeo(
        "copy", "--src-tls-verify=false", f"docker://{host}/team/app:v1", f"oci:{out}:v1"
    )
    assert pulled.returncode == 0, pulled.stderr
    original_manifest, original_blobs = read_layout(source, "v1")
    copied_manifest, copied_blobs = read_layout(out, "v1")
    assert copied_manifest == original_manifest
    assert copied_blobs == original_blobs
    served = [n for n in nodes if '"route":"upload' in n.log() or '"route": "upload' in n.log()]
    assert len(served) >= 2, "nginx should spread the requests over the nodes"


def test_node_killed_mid_push_loses_nothing_committed(
    tmp_path: Path, cluster: tuple[str, list[RunningServer]]
) -> None:
    url, nodes = cluster
    host = url.removeprefix("http://")
    sources = [_layout(tmp_path, f"img{i}", 4 * 1024 * 1024) for i in range(6)]
    results: dict[int, subprocess.CompletedProcess[str]] = {}

    def push(index: int) -> None:
        args = ["copy", "--retry-times", "3", "--dest-tls-verify=false"]
        results[index] = _skopeo(
            *args, f"oci:{sources[index]}:v1", f"docker://{host}/load/img{index}:v1"
        )

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(sources))]
    for thread in threads:
        thread.start()
    os.kill(nodes[1].process.pid, signal.SIGKILL)
    for thread in threads:
        thread.join()
    for index, result in results.items():
        if result.returncode != 0:  # the client's own retry after the failure
            retry = _skopeo("copy", "--dest-tls-verify=false", f"oci:{sources[index]}:v1",
                            f"docker://{host}/load/img{index}:v1")  # fmt: skip
            assert retry.returncode == 0, retry.stderr
    with httpx.Client(base_url=url, timeout=60) as client:
        for index, source in enumerate(sources):
            manifest, _ = read_layout(source, "v1")
            got = client.get(f"/v2/load/img{index}/manifests/v1")
            assert got.status_code == 200 and got.content == manifest
            for digest in json.loads(manifest)["layers"]:
                body = client.get(f"/v2/load/img{index}/blobs/{digest['digest']}").content
                assert "sha256:" + hashlib.sha256(body).hexdigest() == digest["digest"]
