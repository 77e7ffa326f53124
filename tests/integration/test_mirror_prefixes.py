"""Several upstreams cached under repository prefixes of an otherwise ordinary registry.

Real servers on loopback: Debian's docker-registry (its access log counts what it received)
and a second dockyard are the upstreams; the mirror is a real ``dockyard serve``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from integration.test_events_outbox import listed
from support import registry2
from support.mirror import LoggedRegistry, logged_registry
from support.oci import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    Image,
    assert_oci_error,
    make_image,
    make_index,
    push_image,
    sha256,
)
from support.server import DOCKYARD, RunningServer, serving


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LoggedRegistry]:
    with logged_registry(tmp_path / "hub-root", tmp_path) as registry:
        yield registry


@pytest.fixture
def other(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "other").mkdir()
    with serving(tmp_path / "other") as server:
        yield server


def _config(hub: str, other: str) -> str:
    return (
        "version: 0.1\nlog:\n  level: info\n"
        "dockyard:\n  outbound:\n    allowed: [127.0.0.0/8]\n"
        "  mirror:\n    upstreams:\n"
        f"      - name: hub\n        prefix: hub\n        url: {hub}\n"
        "        namespaces: [docker.io]\n"
        f"      - name: other\n        prefix: mirrors/other\n        url: {other}\n"
        "        remoteprefix: org\n"
        "        breaker: {failures: 1, cooldown: 1h}\n"
    )


@pytest.fixture
def mirror(tmp_path: Path, hub: LoggedRegistry, other: RunningServer) -> Iterator[RunningServer]:
    (tmp_path / "mirror").mkdir()
    with serving(tmp_path / "mirror", config=_config(hub.url, other.url)) as server:
        yield server


def _pull(client: httpx.Client, repo: str, reference: str, image: Image) -> httpx.Response:
    got = client.get(f"/v2/{repo}/manifests/{reference}")
    assert got.status_code == 200, got.text
    assert got.content == image.manifest and got.headers["docker-content-digest"] == image.digest
    for blob in [image.config, *image.layers]:
        pulled = client.get(f"/v2/{repo}/blobs/{sha256(blob)}")
        assert pulled.status_code == 200 and pulled.content == blob
    return got


def test_each_prefix_is_the_cache_of_its_upstream_and_the_rest_a_normal_registry(
    hub: LoggedRegistry, other: RunningServer, mirror: RunningServer
) -> None:
    alpine = make_image(layers=2, size=50_000, media_type=DOCKER_MANIFEST)
    tool = make_image(layers=1, size=20_000)
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        registry2.push_image(client, "library/alpine", alpine, "3.20")
    with other.client() as client:
        assert push_image(client, "org/tools/cli", tool, "v1").status_code == 201
    with mirror.client() as client:
        got = _pull(client, "hub/library/alpine", "3.20", alpine)
        assert got.headers["content-type"] == DOCKER_MANIFEST
        _pull(client, "mirrors/other/tools/cli", "v1", tool)  # org/tools/cli upstream
        assert client.get("/v2/hub/library/alpine/tags/list").json() == {
            "name": "hub/library/alpine",
            "tags": ["3.20"],
        }
        # an ordinary repository beside the caches: pushed and pulled as usual
        local = make_image(layers=1, size=10_000)
        assert push_image(client, "team/app", local, "v1").status_code == 201
        _pull(client, "team/app", "v1", local)
        assert_oci_error(client.get("/v2/team/missing/manifests/v1"), 404, "MANIFEST_UNKNOWN")
        # pushes and deletes under a cache prefix are refused, nothing stored
        refused = client.post("/v2/hub/library/alpine/blobs/uploads/")
        assert_oci_error(refused, 405, "UNSUPPORTED")
        headers = {"content-type": DOCKER_MANIFEST}
        put = client.put("/v2/hub/library/alpine/manifests/evil", content=b"{}", headers=headers)
        assert_oci_error(put, 405, "UNSUPPORTED")
        deleted = client.delete(f"/v2/hub/library/alpine/manifests/{alpine.digest}")
        assert_oci_error(deleted, 405, "UNSUPPORTED")
        mounted = client.post(
            "/v2/hub/library/alpine/blobs/uploads/",
            params={"mount": sha256(local.layers[0]), "from": "team/app"},
        )
        assert_oci_error(mounted, 405, "UNSUPPORTED")
        assert client.get("/v2/hub/library/alpine/manifests/evil").status_code == 404
    assert hub.requests("HEAD", "/v2/library/alpine/manifests/3.20") >= 1
    assert hub.requests("GET", f"/v2/library/alpine/manifests/{alpine.digest}") == 1
    assert hub.requests("GET", f"/v2/library/alpine/blobs/{sha256(alpine.layers[0])}") == 1
    assert "/v2/hub/" not in hub.log_path.read_text()  # the upstream never sees the prefix


def test_the_ns_parameter_routes_to_the_upstream_of_that_registry(
    hub: LoggedRegistry, mirror: RunningServer
) -> None:
    alpine = make_image(layers=1, size=30_000, media_type=DOCKER_MANIFEST)
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        registry2.push_image(client, "library/alpine", alpine, "edge")
    with mirror.client() as client:
        ns = {"ns": "docker.io"}
        got = client.get("/v2/library/alpine/manifests/edge", params=ns)
        assert got.status_code == 200 and got.content == alpine.manifest
        assert got.headers["oci-namespace"] == "docker.io"
        layer = sha256(alpine.layers[0])
        blob = client.get(f"/v2/library/alpine/blobs/{layer}", params=ns)
        assert blob.content == alpine.layers[0] and blob.headers["oci-namespace"] == "docker.io"
        head = client.head("/v2/library/alpine/manifests/edge", params=ns)
        assert head.status_code == 200 and head.headers["oci-namespace"] == "docker.io"
        missing = client.get("/v2/library/nothing/manifests/1", params=ns)
        assert_oci_error(missing, 404, "MANIFEST_UNKNOWN")
        assert missing.headers["oci-namespace"] == "docker.io"  # errors carry it too
        # stored under the upstream's prefix: the same content without ns
        cached = client.get("/v2/hub/library/alpine/manifests/edge")
        assert cached.status_code == 200 and cached.content == alpine.manifest
        catalog = client.get("/v2/_catalog").json()["repositories"]
        assert catalog == ["hub/library/alpine"]
        # a registry no upstream answers for: an ordinary request, no header
        other = client.get("/v2/library/alpine/manifests/edge", params={"ns": "quay.io"})
        assert_oci_error(other, 404, "MANIFEST_UNKNOWN")
        assert "oci-namespace" not in other.headers
        push = client.post("/v2/library/alpine/blobs/uploads/", params=ns)
        assert_oci_error(push, 405, "UNSUPPORTED")  # a push with ns lands in the cache prefix
        long = client.get("/v2/library/alpine/manifests/edge", params={"ns": "x" * 300})
        assert_oci_error(long, 400, "BAD_REQUEST")
    assert hub.requests("GET", f"/v2/library/alpine/manifests/{alpine.digest}") == 1


def test_an_upstream_breaker_opens_after_its_configured_failures(
    tmp_path: Path, hub: LoggedRegistry, other: RunningServer, mirror: RunningServer
) -> None:
    tool = make_image(layers=1, size=1000)
    other.process.terminate()
    other.process.wait(10)
    with mirror.client() as client:
        down = client.get("/v2/mirrors/other/tool/manifests/v1")
        assert_oci_error(down, 503, "UNAVAILABLE")
    (tmp_path / "other-again").mkdir()
    again = serving(tmp_path / "other-again", data_dir=other.data_dir, port=other.port)
    with again as restarted, mirror.client() as client:
        with restarted.client() as upstream:
            assert push_image(upstream, "org/tool", tool, "v1").status_code == 201
        # breaker.failures 1, cooldown 1h: the circuit opened on the first failure and stays
        # open although the upstream is back (with the default 3 this request would pass)
        still = client.get("/v2/mirrors/other/tool/manifests/v1")
        assert_oci_error(still, 503, "UNAVAILABLE")
        # the other upstream has a breaker of its own
        image = make_image(layers=1, size=1000)
        with httpx.Client(base_url=hub.url, timeout=30) as hub_client:
            registry2.push_image(hub_client, "library/busybox", image, "1")
        _pull(client, "hub/library/busybox", "1", image)


def test_manifests_served_from_the_cache_are_pull_events(
    tmp_path: Path, hub: LoggedRegistry, other: RunningServer
) -> None:
    alpine = make_image(layers=1, size=1000, media_type=DOCKER_MANIFEST)
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        registry2.push_image(client, "library/alpine", alpine, "3.20")
    config = _config(hub.url, other.url) + "  retention:\n    pullflush: 1h\n"
    (tmp_path / "events").mkdir()
    with serving(tmp_path / "events", config=config) as server, server.client() as client:
        for _ in range(3):  # a miss, then hits
            assert client.get("/v2/hub/library/alpine/manifests/3.20").status_code == 200
        ns = {"ns": "docker.io"}
        assert client.get(f"/v2/library/alpine/manifests/{alpine.digest}", params=ns).is_success
        assert client.head("/v2/hub/library/alpine/manifests/3.20").status_code == 200
    entries = listed(server, {})  # the pulls were written when the server stopped
    pulls = [e["event"] for e in entries if e["event"]["kind"] == "manifest.pulled"]
    assert len(pulls) == 1, pulls  # one event per manifest and actor per flush
    (pulled,) = pulls
    assert pulled["repository"] == "hub/library/alpine"
    assert pulled["target"]["digest"] == alpine.digest
    assert pulled["target"]["count"] == 4 and pulled["target"]["tags"] == ["3.20"]  # HEAD: none


def _stored(server: RunningServer, digest: str) -> bool:
    hex_ = digest.split(":", 1)[1]
    path = server.data_dir / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"
    return path.exists()


def _dockyard(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [DOCKYARD, *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_warm_prefills_an_index_and_its_images_through_a_queued_job(
    hub: LoggedRegistry, mirror: RunningServer
) -> None:
    amd, arm = make_image(layers=2, size=20_000), make_image(layers=1, size=20_000)
    index = make_index([amd, arm])
    with httpx.Client(base_url=hub.url, timeout=30) as client:
        for image in (amd, arm):
            registry2.push_image(
                client, "library/multi", image, f"only-{sha256(image.config)[7:15]}"
            )
        registry2.push_manifest(client, "library/multi", "1.0", index, OCI_INDEX)
    bad = _dockyard(mirror.data_dir, "mirror", "warm", "hub/library/multi")
    assert bad.returncode == 1 and "REPOSITORY:TAG" in bad.stderr
    queued = _dockyard(mirror.data_dir, "mirror", "warm", "hub/library/multi:1.0",
                       "team/not-a-cache:v1")  # fmt: skip
    assert queued.returncode == 0 and "queued (mirror.warm, 2 references)" in queued.stdout
    blobs = [sha256(b) for image in (amd, arm) for b in (image.config, *image.layers)]
    deadline = time.monotonic() + 90
    while not all(_stored(mirror, digest) for digest in blobs):
        assert time.monotonic() < deadline, "the warm job did not store every blob"
        time.sleep(0.2)
    shown = _dockyard(mirror.data_dir, "jobs")
    assert "warmed 1 of 2" in shown.stdout and "not under a cache prefix" in shown.stdout
    hub.stop()  # from here on only what the job cached can be served
    with mirror.client() as client:
        for image in (amd, arm):
            got = client.get(f"/v2/hub/library/multi/manifests/{image.digest}")
            assert got.status_code == 200 and got.content == image.manifest
            for blob in (image.config, *image.layers):
                assert client.get(f"/v2/hub/library/multi/blobs/{sha256(blob)}").content == blob
