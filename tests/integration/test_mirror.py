"""The pull-through cache (``proxy.remoteurl``) in front of Debian's docker-registry.

Real servers on loopback: the upstream is docker-registry with its access log in a file (to
count what it really received), the mirror a real ``dockyard serve``.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from support.mirror import LoggedRegistry, logged_registry, metric, mirror_config
from support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    Image,
    assert_oci_error,
    make_image,
    make_index,
    sha256,
)
from support.registry2 import push_image  # docker-registry 2.8: POST, then PUT
from support.server import DOCKYARD, RunningServer, free_port, serving


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[LoggedRegistry]:
    with logged_registry(tmp_path / "upstream-root", tmp_path) as registry:
        yield registry


@pytest.fixture
def debug_port() -> int:
    return free_port()


@pytest.fixture
def mirror(tmp_path: Path, upstream: LoggedRegistry, debug_port: int) -> Iterator[RunningServer]:
    workdir = tmp_path / "mirror"
    workdir.mkdir()
    with serving(workdir, config=mirror_config(upstream.url, debug_port=debug_port)) as server:
        yield server


def _blob_path(server: RunningServer, digest: str) -> Path:
    hex_ = digest.split(":", 1)[1]
    return server.data_dir / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def test_an_image_pulls_byte_identical_and_is_served_once_the_upstream_is_gone(
    upstream: LoggedRegistry, mirror: RunningServer, debug_port: int
) -> None:
    image = make_image(layers=2, size=300_000, media_type=DOCKER_MANIFEST)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "library/alpine", image, "3.20")
    with mirror.client() as client:
        got = client.get("/v2/library/alpine/manifests/3.20")
        assert got.status_code == 200, got.text
        assert got.content == image.manifest  # byte for byte, Docker media type kept
        assert got.headers["content-type"] == DOCKER_MANIFEST
        assert got.headers["docker-content-digest"] == image.digest
        for blob in [image.config, *image.layers]:
            pulled = client.get(f"/v2/library/alpine/blobs/{sha256(blob)}")
            assert pulled.status_code == 200 and pulled.content == blob
            assert _blob_path(mirror, sha256(blob)).read_bytes() == blob  # stored
        tags = client.get("/v2/library/alpine/tags/list")
        assert tags.json() == {"name": "library/alpine", "tags": ["3.20"]}
        upstream.stop()
        again = client.get("/v2/library/alpine/manifests/3.20")
        assert again.status_code == 200 and again.content == image.manifest
        assert again.headers["warning"].startswith("110 ")  # stale: the upstream is down
        by_digest = client.get(f"/v2/library/alpine/manifests/{image.digest}")
        assert by_digest.status_code == 200 and "warning" not in by_digest.headers
        for blob in [image.config, *image.layers]:
            assert client.get(f"/v2/library/alpine/blobs/{sha256(blob)}").content == blob
        cached_tags = client.get("/v2/library/alpine/tags/list")
        assert cached_tags.json()["tags"] == ["3.20"] and "warning" in cached_tags.headers
        missing = client.get("/v2/library/alpine/manifests/edge")
        assert_oci_error(missing, 503, "UNAVAILABLE")
    assert "serving library/alpine:3.20 as last confirmed" in mirror.log()
    debug, label = f"http://127.0.0.1:{debug_port}", upstream.url.removeprefix("http://")
    assert metric(debug, "registry_mirror_stale_total", upstream=label, kind="manifest") == 1
    assert metric(debug, "registry_mirror_misses_total", upstream=label, kind="blob") == 3
    assert metric(debug, "registry_mirror_hits_total", upstream=label, kind="blob") == 3
    fetched = len(image.manifest) + len(image.config) + sum(map(len, image.layers))
    assert metric(debug, "registry_mirror_bytes_fetched_total", upstream=label) == fetched
    assert metric(debug, "registry_mirror_errors_total", upstream=label, kind="unavailable") >= 2


def test_digests_never_go_upstream_again_and_tags_are_revalidated_by_head(
    upstream: LoggedRegistry, mirror: RunningServer
) -> None:
    image = make_image(layers=1)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "team/app", image, "v1")
    layer = sha256(image.layers[0])
    with mirror.client() as client:
        for _ in range(3):
            assert client.get(f"/v2/team/app/manifests/{image.digest}").status_code == 200
            assert client.get(f"/v2/team/app/blobs/{layer}").content == image.layers[0]
            assert client.get("/v2/team/app/manifests/v1").status_code == 200
    assert upstream.requests("GET", f"/v2/team/app/manifests/{image.digest}") == 1
    assert upstream.requests("GET", f"/v2/team/app/blobs/{layer}") == 1
    assert upstream.requests("HEAD", "/v2/team/app/manifests/v1") == 3  # tagttl 0: every time
    assert upstream.requests("GET", "/v2/team/app/manifests/v1") == 0  # digest unchanged


def test_with_a_tag_ttl_a_fresh_tag_is_not_revalidated(
    tmp_path: Path, upstream: LoggedRegistry
) -> None:
    image = make_image(layers=1)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "team/app", image, "v1")
    config = mirror_config(upstream.url, extra="  mirror:\n    tagttl: 1h\n")
    (tmp_path / "m").mkdir()
    with serving(tmp_path / "m", config=config) as mirror, mirror.client() as client:
        for _ in range(3):
            assert client.get("/v2/team/app/manifests/v1").content == image.manifest
    assert upstream.requests("HEAD", "/v2/team/app/manifests/v1") == 1


def test_a_moved_tag_is_fetched_again(upstream: LoggedRegistry, mirror: RunningServer) -> None:
    first, second = make_image(layers=1), make_image(layers=1)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "team/app", first, "latest")
        with mirror.client() as proxy:
            assert proxy.get("/v2/team/app/manifests/latest").content == first.manifest
        push_image(client, "team/app", second, "latest")
        with mirror.client() as proxy:
            assert proxy.get("/v2/team/app/manifests/latest").content == second.manifest
        push_image(client, "team/app", first, "latest")  # back to a manifest cached already
    with mirror.client() as proxy:
        assert proxy.get("/v2/team/app/manifests/latest").content == first.manifest
    assert upstream.requests("GET", f"/v2/team/app/manifests/{first.digest}") == 1
    assert upstream.requests("GET", f"/v2/team/app/manifests/{second.digest}") == 1


def test_twenty_parallel_misses_make_one_upstream_request(
    upstream: LoggedRegistry, mirror: RunningServer, debug_port: int
) -> None:
    blob = os.urandom(24 * 1024 * 1024)
    image = make_image(layer_data=[blob])
    with httpx.Client(base_url=upstream.url, timeout=60) as client:
        push_image(client, "big/image", image, "v1")
    url = f"{mirror.url}/v2/big/image/blobs/{sha256(blob)}"

    def pull(_: int) -> bytes:
        with httpx.Client(timeout=120) as client:
            response = client.get(url)
            assert response.status_code == 200, response.text
            return response.content

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(pull, range(20)))
    assert all(result == blob for result in results)
    assert upstream.requests("GET", f"/v2/big/image/blobs/{sha256(blob)}") == 1
    assert _blob_path(mirror, sha256(blob)).read_bytes() == blob
    debug, label = f"http://127.0.0.1:{debug_port}", upstream.url.removeprefix("http://")
    coalesced = metric(debug, "registry_mirror_coalesced_total", upstream=label, kind="blob")
    hits = metric(debug, "registry_mirror_hits_total", upstream=label, kind="blob")
    assert coalesced + hits == 19  # one miss; the others joined it or came after it


def test_a_range_request_on_a_miss_is_forwarded_without_a_full_download(
    upstream: LoggedRegistry, mirror: RunningServer
) -> None:
    blob = os.urandom(2 * 1024 * 1024)
    image = make_image(layer_data=[blob])
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "team/ranged", image, "v1")
    digest = sha256(blob)
    with mirror.client() as client:
        part = client.get(f"/v2/team/ranged/blobs/{digest}", headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206, part.text
        assert part.content == blob[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(blob)}"
        assert not _blob_path(mirror, digest).exists()  # a range is never cached
        head = client.head(f"/v2/team/ranged/blobs/{digest}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(blob))
        assert client.get(f"/v2/team/ranged/blobs/{digest}").content == blob
    assert upstream.requests("GET", f"/v2/team/ranged/blobs/{digest}") == 2  # range, then full


def test_an_index_is_stored_as_is_and_its_children_are_fetched_when_asked(
    upstream: LoggedRegistry, mirror: RunningServer
) -> None:
    children = [make_image(layers=1, media_type=DOCKER_MANIFEST) for _ in range(2)]
    index = make_index(children, media_type=DOCKER_LIST)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        for child in children:
            push_image(client, "multi/arch", child, child.digest)
        response = client.put(
            "/v2/multi/arch/manifests/v2", content=index, headers={"Content-Type": DOCKER_LIST}
        )
        assert response.status_code == 201, response.text
    with mirror.client() as client:
        got = client.get("/v2/multi/arch/manifests/v2")
        assert got.content == index and got.headers["content-type"] == DOCKER_LIST
        assert upstream.requests("GET", f"/v2/multi/arch/manifests/{children[0].digest}") == 0
        child = client.get(f"/v2/multi/arch/manifests/{children[0].digest}")
        assert child.status_code == 200 and child.content == children[0].manifest
    assert upstream.requests("GET", f"/v2/multi/arch/manifests/{children[1].digest}") == 0


def test_pushes_and_deletes_are_refused_as_registry2_does(mirror: RunningServer) -> None:
    with mirror.client() as client:
        assert_oci_error(client.post("/v2/library/alpine/blobs/uploads/"), 405, "UNSUPPORTED")
        put = client.put(
            "/v2/library/alpine/manifests/x",
            content=b"{}",
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert_oci_error(put, 405, "UNSUPPORTED")
        gone = client.delete(f"/v2/library/alpine/manifests/{sha256(b'x')}")
        assert_oci_error(gone, 405, "UNSUPPORTED")


def test_unknown_content_is_a_clean_404(mirror: RunningServer) -> None:
    with mirror.client() as client:
        assert_oci_error(client.get("/v2/no/such/manifests/v1"), 404, "MANIFEST_UNKNOWN")
        blob = client.get(f"/v2/no/such/blobs/{sha256(b'nothing')}")
        assert_oci_error(blob, 404, "BLOB_UNKNOWN")
        assert_oci_error(client.get("/v2/no/such/tags/list"), 404, "NAME_UNKNOWN")


def test_a_restarted_mirror_serves_stale_tags_only_within_the_window(
    tmp_path: Path, upstream: LoggedRegistry
) -> None:
    image = make_image(layers=1)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "team/app", image, "v1")
    data_dir = tmp_path / "mirror-data"
    (tmp_path / "m").mkdir()
    config = mirror_config(upstream.url)
    with serving(tmp_path / "m", config=config, data_dir=data_dir) as mirror, mirror.client() as c:
        assert c.get("/v2/team/app/manifests/v1").status_code == 200
    upstream.stop()
    with serving(tmp_path / "m", config=config, data_dir=data_dir) as mirror, mirror.client() as c:
        stale = c.get("/v2/team/app/manifests/v1")
        assert stale.status_code == 200 and stale.content == image.manifest
        assert stale.headers["warning"].startswith("110 ")
    strict = mirror_config(upstream.url, extra="  mirror:\n    staleness: 0s\n")
    with serving(tmp_path / "m", config=strict, data_dir=data_dir) as mirror, mirror.client() as c:
        assert_oci_error(c.get("/v2/team/app/manifests/v1"), 503, "UNAVAILABLE")
        by_digest = c.get(f"/v2/team/app/manifests/{image.digest}")
        assert by_digest.status_code == 200 and by_digest.content == image.manifest


def test_proxy_ttl_expires_what_is_not_pulled_and_keeps_what_is(
    tmp_path: Path, upstream: LoggedRegistry
) -> None:
    keep, drop = make_image(layers=1, size=1000), make_image(layers=1, size=1000)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        push_image(client, "team/keep", keep, "v1")
        push_image(client, "team/drop", drop, "v1")
    config = (
        mirror_config(upstream.url).replace(
            f"  remoteurl: {upstream.url}\n", f"  remoteurl: {upstream.url}\n  ttl: 4s\n"
        )
        + "  retention:\n    grace: 0s\n    interval: 1s\n    pullflush: 200ms\n"
    )
    (tmp_path / "m").mkdir()
    with serving(tmp_path / "m", config=config) as mirror, mirror.client() as client:
        for repo, image in (("team/keep", keep), ("team/drop", drop)):
            assert client.get(f"/v2/{repo}/manifests/v1").content == image.manifest
        stop = threading.Event()
        hits = threading.Thread(target=_keep_pulling, args=(mirror, keep, stop), daemon=True)
        hits.start()  # keep is pulled all along (hits refresh its ttl), drop is not
        try:
            deadline = time.monotonic() + 90
            while drop.digest not in _history(mirror):  # removed once idle longer than ttl
                assert time.monotonic() < deadline, "proxy.ttl never expired the idle manifest"
                time.sleep(0.5)
        finally:
            stop.set()
            hits.join(30)
        upstream.stop()  # only what is still cached can be served now
        assert client.get(f"/v2/team/keep/manifests/{keep.digest}").content == keep.manifest
        gone = client.get(f"/v2/team/drop/manifests/{drop.digest}")
        assert_oci_error(gone, 503, "UNAVAILABLE")
    assert keep.digest not in _history(mirror)
    assert "proxy.ttl" in _history(mirror)


def _keep_pulling(server: RunningServer, image: Image, stop: threading.Event) -> None:
    with server.client() as client:
        while not stop.is_set():
            client.get(f"/v2/team/keep/manifests/{image.digest}")
            stop.wait(0.3)


def _history(server: RunningServer) -> str:
    done = subprocess.run(
        [DOCKYARD, "retention", "history", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout
