"""Upstreams added at run time: ``/api/v1/mirrors`` (system administrators) and
``dockyard mirror``, stored in the metadata database so every node serves them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import registry2
from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.mirror import LoggedRegistry, logged_registry
from support.oci import assert_oci_error, make_image, sha256
from support.server import DOCKYARD, RunningServer, serving

OUTBOUND = {"REGISTRY_DOCKYARD_OUTBOUND_ALLOWED": "[127.0.0.0/8]"}


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[LoggedRegistry]:
    with logged_registry(tmp_path / "upstream-root", tmp_path) as registry:
        yield registry


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    (tmp_path / "mirror").mkdir()
    with identity_server(tmp_path / "mirror", **OUTBOUND) as running:
        yield running


def _failing_cli(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= identity_env(**OUTBOUND)
    done = subprocess.run(
        [DOCKYARD, *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, timeout=60, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    return done.stderr


def test_an_upstream_added_through_the_api_is_served_and_removed(
    upstream: LoggedRegistry, server: RunningServer
) -> None:
    image = make_image(layers=1, size=20_000)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        registry2.push_image(client, "library/redis", image, "7")
    with Api(server) as api:
        body = {
            "name": "hub",
            "prefix": "hub",
            "url": upstream.url,
            "namespaces": ["docker.io"],
            "username": "someone",
            "password": "secret-pw",
            "tagttl": "1m",
        }
        made = api.ok("POST", "/mirrors", 201, json=body)
        assert made["password_set"] is True and "password" not in made
        assert made["source"] == "api" and made["tagttl_seconds"] == 60
        assert "secret-pw" not in api.http.get("/mirrors").text
        assert [m["name"] for m in api.ok("GET", "/mirrors")] == ["hub"]
        assert api.ok("GET", "/mirrors/hub")["url"] == upstream.url
        # conflicts and bad input: 409 / 400 with the OCI error envelope, nothing stored
        twice = api.http.post("/mirrors", json=body)
        assert_oci_error(twice, 409, "CONFLICT")
        inside = api.http.post("/mirrors", json={**body, "name": "inner", "prefix": "hub/x",
                                                 "namespaces": []})  # fmt: skip
        assert_oci_error(inside, 409, "CONFLICT")
        for bad in (
            {**body, "name": "Bad Name"},
            {**body, "name": "x", "prefix": "UPPER"},
            {**body, "name": "x", "prefix": "x", "url": "ftp://example.com"},
            {**body, "name": "x", "prefix": "x", "password": ""},
            {**body, "name": "x", "prefix": "x", "tagttl": "soon"},
            {"name": "x"},
        ):
            assert_oci_error(api.http.post("/mirrors", json=bad), 400, "BAD_REQUEST")
        assert_oci_error(
            api.http.post("/mirrors", content=b"[1,", headers={"content-type": "application/json"}),
            400,
            "BAD_REQUEST",
        )
        assert [m["name"] for m in api.ok("GET", "/mirrors")] == ["hub"]
        api.ok("POST", "/projects", 201, json={"name": "hub", "public": False})
        api.ok("DELETE", "/mirrors/hub", 204)  # re-added without credentials
        api.ok("POST", "/mirrors", 201, json={**body, "username": "", "password": ""})
        paths = {path for path in api.ok("GET", "/openapi.json")["paths"]}
        assert {"/api/v1/mirrors", "/api/v1/mirrors/{name}"} <= paths
    with server.client(auth=ADMIN) as client:
        got = client.get("/v2/hub/library/redis/manifests/7")
        assert got.status_code == 200 and got.content == image.manifest
        layer = client.get(f"/v2/hub/library/redis/blobs/{sha256(image.layers[0])}")
        assert layer.content == image.layers[0]
        refused = client.post("/v2/hub/library/redis/blobs/uploads/")
        assert_oci_error(refused, 405, "UNSUPPORTED")
    with Api(server, auth=None) as anonymous:
        assert anonymous.http.get("/mirrors").status_code == 401
    with Api(server) as api:
        api.user("dev", "dev-password")
    with Api(server, auth=("dev", "dev-password")) as dev:
        assert_oci_error(dev.http.get("/mirrors"), 403, "DENIED")
        assert_oci_error(dev.http.post("/mirrors", json=body), 403, "DENIED")
        assert_oci_error(dev.http.delete("/mirrors/hub"), 403, "DENIED")
    with Api(server) as api:
        api.ok("DELETE", "/mirrors/hub", 204)
        assert_oci_error(api.http.delete("/mirrors/hub"), 404, "NOT_FOUND")
        assert api.ok("GET", "/mirrors") == []
        events = api.ok("GET", "/audit", params={"event": "mirror.add"})
        assert events["items"], events


def test_the_cli_manages_upstreams_every_node_sees(
    tmp_path: Path, upstream: LoggedRegistry
) -> None:
    image = make_image(layers=1, size=5_000)
    with httpx.Client(base_url=upstream.url, timeout=30) as client:
        registry2.push_image(client, "team/app", image, "v1")
    data = tmp_path / "data"
    env = identity_env(**OUTBOUND)
    data.mkdir()
    cli(data, env, "mirror", "add", "up", "--prefix", "cache/up", "--url", upstream.url,
        "--remote-prefix", "team", "--breaker-failures", "5")  # fmt: skip
    listed = cli(data, env, "mirror", "list")
    assert "up" in listed and "cache/up/" in listed and "api" in listed
    assert '"breaker_failures": 5' in cli(data, env, "mirror", "show", "up")
    assert "two upstreams are named" in _failing_cli(data, "mirror", "add", "up", "--prefix", "p",
                                            "--url", upstream.url)  # fmt: skip
    assert "invalid upstream" in _failing_cli(data, "mirror", "add", "x", "--prefix", "a//b",
                                              "--url", upstream.url)  # fmt: skip
    assert "no such upstream" in _failing_cli(data, "mirror", "remove", "nothing")
    assert "terminal" in _failing_cli(data, "mirror", "add", "y", "--prefix", "y", "--url",
                                      upstream.url, "--username", "u")  # fmt: skip
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    # two servers on one database: both serve the upstream the CLI added
    cli(data, env, "user", "add", "admin", "--admin", "--password-stdin",
        stdin="admin-password\n")  # fmt: skip
    with (
        serving(tmp_path / "a", env=env, data_dir=data) as first,
        serving(tmp_path / "b", env=env, data_dir=data) as second,
    ):
        for node in (first, second):
            with node.client(auth=ADMIN) as client:
                got = client.get("/v2/cache/up/app/manifests/v1")
                assert got.status_code == 200 and got.content == image.manifest
        cli(data, env, "mirror", "remove", "up")
    assert "cache/up/" not in cli(data, env, "mirror", "list")
