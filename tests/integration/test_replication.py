"""Replication against real peers on loopback: a second dockyard (anonymous), Debian's
docker-registry; pushes and pulls of a multi-arch image with a cosign signature tag and an
SBOM referrer, byte-identical at the target; filters; dry runs; the management API's refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.clientkit import access_log
from support import postgres, registry2
from support.identity import ADMIN, Api, identity_server
from support.mirror import Reply, hostile_upstream
from support.oci import OCI_INDEX, OCI_MANIFEST, assert_oci_error, make_image, sha256
from support.replication import assert_same_tree, push_image, push_signed_index, wait_run
from support.server import RunningServer, serving

LOOPBACK = {"REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]"}


@pytest.fixture
def source(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "source").mkdir()
    with identity_server(tmp_path / "source", **LOOPBACK) as running, Api(running) as admin:
        admin.project("apps")
        yield running


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "peer").mkdir()
    with serving(tmp_path / "peer") as running:
        yield running


def policy(name: str, url: str, **fields: Any) -> dict[str, Any]:
    return {"policy": {"name": name, "url": url, **fields}}


def test_push_a_signed_multi_arch_image_byte_identical(
    source: RunningServer, peer: RunningServer
) -> None:
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
        pushed = push_signed_index(client, "apps/web", "v1.2.0")
        push_signed_index(client, "apps/web", "v2.0.0")  # outside the semver range
    with Api(source) as api:
        api.ok(
            "POST",
            "/replication/policies",
            201,
            json=policy(
                "to-peer", peer.url, repositories=["apps/*"], tags=["semver:^1"], prefix="copy"
            ),
        )
        run = api.ok("POST", "/replication/policies/to-peer/runs", 202)
        detail = wait_run(api, run["id"])
    assert detail["run"]["state"] == "done", detail
    items = detail["items"]
    assert [(i["source"], i["target"], i["outcome"]) for i in items] == [
        ("apps/web:v1.2.0", "copy/apps/web:v1.2.0", "copied")
    ]
    assert items[0]["digest"] == pushed.digest
    with peer.client() as client:
        assert_same_tree(client, "copy/apps/web", pushed)
        tags = client.get("/v2/copy/apps/web/tags/list").json()["tags"]
        assert "v2.0.0" not in tags
        referrers = client.get(f"/v2/copy/apps/web/referrers/{pushed.digest}").json()
        assert [m["digest"] for m in referrers["manifests"]] == [pushed.sbom.digest]
    with Api(source) as api:  # a second run finds everything there
        again = wait_run(api, api.ok("POST", "/replication/policies/to-peer/runs", 202)["id"])
    assert [i["outcome"] for i in again["items"]] == ["skipped"]


@pytest.fixture
def sparse_target(tmp_path: Path) -> Iterator[RunningServer]:
    """A dockyard that accepts an index without all its children (a sparse index)."""
    (tmp_path / "target").mkdir()
    sparse = {**LOOPBACK, "REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS": "none"}
    with identity_server(tmp_path / "target", **sparse) as running, Api(running) as admin:
        admin.project("apps")
        yield running


def test_pull_one_platform_from_the_reference_registry(
    tmp_path: Path, sparse_target: RunningServer
) -> None:
    with registry2.reference_registry(tmp_path / "root", tmp_path) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            pushed = push_signed_index(client, "lib/app", "1.0")
            push_signed_index(client, "lib/other", "1.0")  # not selected
        with Api(sparse_target) as api:
            api.ok(
                "POST",
                "/replication/policies",
                201,
                json=policy(
                    "from-ref",
                    url,
                    direction="pull",
                    repositories=["lib/app"],
                    platforms=["linux/amd64"],
                    strip="lib/",
                    prefix="apps",
                ),
            )
            plan = api.ok(
                "POST", "/replication/policies/from-ref/runs", 200, json={"dry_run": True}
            )
            assert plan["state"] == "done" and plan["dry_run"], plan
            planned = api.ok("GET", f"/replication/runs/{plan['id']}")["items"]
            assert [(i["source"], i["target"], i["outcome"]) for i in planned] == [
                ("lib/app:1.0", "apps/app:1.0", "planned")
            ]
            run = api.ok("POST", "/replication/policies/from-ref/runs", 202)
            detail = wait_run(api, run["id"])
    assert detail["run"]["state"] == "done", detail
    amd64, arm64 = pushed.images
    with httpx.Client(base_url=sparse_target.url, auth=ADMIN, timeout=30) as client:
        accept = {"Accept": OCI_INDEX}
        got = client.get("/v2/apps/app/manifests/1.0", headers=accept)
        assert got.content == pushed.index  # the index byte for byte: a sparse index here
        assert client.get(f"/v2/apps/app/manifests/{amd64.digest}").content == amd64.manifest
        for blob in [amd64.config, *amd64.layers]:
            assert client.get(f"/v2/apps/app/blobs/{sha256(blob)}").content == blob
        assert_oci_error(client.get(f"/v2/apps/app/manifests/{arm64.digest}"), 404,
                         "MANIFEST_UNKNOWN")  # fmt: skip
        signature = client.get(f"/v2/apps/app/manifests/{pushed.signature_tag}")
        assert signature.content == pushed.signature.manifest
        assert_oci_error(client.get("/v2/apps/other/tags/list"), 404, "NAME_UNKNOWN")


def test_the_outbound_guard_refuses_a_loopback_peer_without_connecting(tmp_path: Path) -> None:
    with hostile_upstream() as listener:
        (tmp_path / "guarded").mkdir()
        with identity_server(tmp_path / "guarded") as server, Api(server) as api:
            api.ok(
                "POST",
                "/replication/policies",
                201,
                json=policy("denied", listener.url, direction="pull", repositories=["lib/app"]),
            )
            detail = wait_run(api, api.ok("POST", "/replication/policies/denied/runs", 202)["id"])
            log = server.log()
    assert detail["run"]["state"] == "failed", detail
    assert "private or reserved" in detail["run"]["summary"], detail
    assert listener.connections == 0
    assert "outbound guard refused" in log


def test_policies_are_for_administrators_and_bad_ones_are_refused(
    source: RunningServer, peer: RunningServer
) -> None:
    with Api(source) as admin:
        admin.user("dev", "dev-password")
        created = admin.ok(
            "POST",
            "/replication/policies",
            201,
            json={
                **policy("with-secret", peer.url),
                "credentials": {"username": "u", "password": "pw"},
            },
        )
        assert created["has_credentials"] is True
        assert "pw" not in json.dumps(created) and "password" not in json.dumps(created)
        listed = admin.http.get("/replication/policies")
        assert "pw" not in listed.text
        changed = admin.ok("PUT", "/replication/policies/with-secret",
                           json=policy("with-secret", peer.url, tags=["v*"]))  # fmt: skip
        assert changed["policy"]["tags"] == ["v*"] and changed["has_credentials"] is True
        renamed = admin.http.put(
            "/replication/policies/with-secret", json=policy("other", peer.url)
        )
        assert_oci_error(renamed, 400, "BAD_REQUEST")
        bad = [
            policy("x", "ftp://host"),
            policy("x", peer.url + "/path"),
            policy("x", "http://user:pw@127.0.0.1:1"),
            policy("x", peer.url, tags=["regex:("]),
            policy("x", peer.url, tags=["semver:not a range (("]),
            policy("x", peer.url, repositories=["semver:^1"]),
            policy("x", peer.url, platforms=["linux"]),
            policy("x", peer.url, direction="pull", on_push=True),
            policy("x", peer.url, interval_seconds=5),
            policy("x", peer.url, parallel=0),
            policy("bad name!", peer.url),
            {"policy": {"name": "x", "url": peer.url, "unknown": 1}},
        ]
        for body in bad:
            assert_oci_error(admin.http.post("/replication/policies", json=body), 400,
                             "BAD_REQUEST")  # fmt: skip
        broken = admin.http.post("/replication/policies", content=b"{",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
        assert_oci_error(broken, 400, "BAD_REQUEST")
        duplicate = admin.http.post("/replication/policies", json=policy("with-secret", peer.url))
        assert_oci_error(duplicate, 409, "CONFLICT")
        assert_oci_error(admin.http.get("/replication/policies/nope"), 404, "NOT_FOUND")
        assert_oci_error(admin.http.get("/replication/runs/999"), 404, "NOT_FOUND")
    with Api(source, auth=("dev", "dev-password")) as dev:
        for method, path in [("GET", "/replication/policies"),
                             ("POST", "/replication/policies/with-secret/runs"),
                             ("DELETE", "/replication/policies/with-secret")]:  # fmt: skip
            assert_oci_error(dev.http.request(method, path), 403, "DENIED")
    with Api(source) as admin:
        doc = admin.ok("GET", "/openapi.json")
        paths = doc["paths"]
        for path in ("/api/v1/replication/policies", "/api/v1/replication/runs/{run}/stop"):
            assert path in paths, path
        create = paths["/api/v1/replication/policies"]["post"]
        assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        view = doc["components"]["schemas"]["PolicyView"]
        assert "credentials" not in view["properties"] and "has_credentials" in view["properties"]
        admin.ok("DELETE", "/replication/policies/with-secret", 204)
        assert admin.ok("GET", "/replication/policies")["items"] == []


def test_wrong_bytes_from_a_peer_are_never_stored(tmp_path: Path, source: RunningServer) -> None:
    image = make_image(layers=1, size=4096)
    wrong_manifest = image.manifest.replace(b"schemaVersion", b"schemaVersion ", 1)
    layer = sha256(image.layers[0])
    with hostile_upstream() as peer:
        oci = {"Content-Type": OCI_MANIFEST}
        for name in ("liar", "blobs"):
            peer.replies[f"/v2/lib/{name}/tags/list"] = Reply(
                200, json.dumps({"name": f"lib/{name}", "tags": ["v1"]}).encode()
            )
        peer.replies["/v2/lib/liar/manifests/v1"] = Reply(
            200, wrong_manifest, {**oci, "Docker-Content-Digest": image.digest}
        )
        peer.replies["/v2/lib/blobs/manifests/v1"] = Reply(
            200, image.manifest, {**oci, "Docker-Content-Digest": image.digest}
        )
        peer.replies[f"/v2/lib/blobs/manifests/{image.digest}"] = Reply(200, image.manifest, oci)
        peer.replies[f"/v2/lib/blobs/blobs/{sha256(image.config)}"] = Reply(200, image.config)
        peer.replies[f"/v2/lib/blobs/blobs/{layer}"] = Reply(200, b"x" * len(image.layers[0]))
        with Api(source) as api:
            api.ok("POST", "/replication/policies", 201, json=policy(
                "liar", peer.url, direction="pull", repositories=["lib/liar", "lib/blobs"],
                prefix="apps"))  # fmt: skip
            detail = wait_run(api, api.ok("POST", "/replication/policies/liar/runs", 202)["id"])
    outcomes = {i["source"]: (i["outcome"], i["error"]) for i in detail["items"]}
    assert detail["run"]["state"] == "failed", detail
    assert outcomes["lib/liar:v1"][0] == "failed"
    assert "do not match" in outcomes["lib/liar:v1"][1]
    assert outcomes["lib/blobs:v1"][0] == "failed"
    assert "do not match" in outcomes["lib/blobs:v1"][1]
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
        for repository in ("apps/lib/liar", "apps/lib/blobs"):
            gone = client.get(f"/v2/{repository}/manifests/v1")
            assert_oci_error(gone, 404, "MANIFEST_UNKNOWN")
        assert_oci_error(client.get(f"/v2/apps/lib/blobs/blobs/{layer}"), 404, "BLOB_UNKNOWN")


def test_blobs_shared_by_two_repositories_are_mounted_at_the_peer(
    source: RunningServer, peer: RunningServer
) -> None:
    image = make_image(layers=2, size=4096)
    with httpx.Client(base_url=source.url, auth=ADMIN, timeout=30) as client:
        for repository in ("apps/api", "apps/web"):
            push_image(client, repository, image, "v1")
    with Api(source) as api:
        api.ok("POST", "/replication/policies", 201, json=policy(
            "shared", peer.url, repositories=["apps/*"], parallel=1))  # fmt: skip
        detail = wait_run(api, api.ok("POST", "/replication/policies/shared/runs", 202)["id"])
    assert [i["outcome"] for i in detail["items"]] == ["copied", "copied"], detail
    posts = [(r["path"], r["status"]) for r in access_log(peer) if r["method"] == "POST"]
    assert posts.count(("/v2/apps/web/blobs/uploads/", 201)) == 3  # config and 2 layers mounted
    assert not any(path.startswith("/v2/apps/web/") and status == 202 for path, status in posts)
    with peer.client() as client:
        for blob in [image.config, *image.layers]:
            assert client.get(f"/v2/apps/web/blobs/{sha256(blob)}").content == blob


def test_a_push_with_the_metadata_in_postgresql(tmp_path: Path, peer: RunningServer) -> None:
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    database = postgres.shared_server().create_database("replication")
    (tmp_path / "pg-source").mkdir()
    env = {**LOOPBACK, "REGISTRY_DOCKYARD_DATABASE": database}
    with identity_server(tmp_path / "pg-source", **env) as server, Api(server) as api:
        api.project("apps")
        with httpx.Client(base_url=server.url, auth=ADMIN, timeout=30) as client:
            pushed = push_signed_index(client, "apps/pg", "v1")
        api.ok("POST", "/replication/policies", 201, json=policy("pg", peer.url))
        detail = wait_run(api, api.ok("POST", "/replication/policies/pg/runs", 202)["id"])
    assert detail["run"]["state"] == "done", detail
    with peer.client() as client:
        assert_same_tree(client, "apps/pg", pushed)
