"""No cross-project leak, with identity management on, against real servers over HTTP.

Two private projects (``red``, ``blue``) share layer bytes through deduplication; a public
project (``pub``) is open for anonymous pulls. Blob HEAD/GET, mounts with and without
``from``, manifest references, referrers and manifests never reveal or use content of a
repository the caller cannot read; upload sessions are bound to repository and principal; a
revoked robot or a deleted user is refused on the very next request, with HTTP Basic and with
bearer tokens from dockyard's token service.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.identity import ADMIN, Api, identity_server
from support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    make_image,
    push_blob,
    push_image,
    sha256,
)
from support.server import RunningServer

SHARED = os.urandom(2048)  # a layer both projects push: stored once
RED_ONLY = os.urandom(2048)


@dataclass
class World:
    server: RunningServer
    red_manifest: str
    robot: tuple[int, str, str]


def basic(server: RunningServer, user: str, password: str) -> httpx.Client:
    return server.client(auth=(user, password))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with identity_server(tmp_path_factory.mktemp("isolation")) as server:
        with Api(server) as admin:
            for name in ("ruby", "rex", "bluey", "doomed"):
                admin.user(name, f"{name}-password")
            for name in ("red", "blue"):
                admin.project(name)
            admin.project("pub", public=True)
            admin.member("red", "ruby", "maintainer")
            admin.member("red", "rex", "developer")
            admin.member("blue", "bluey", "developer")
            admin.member("blue", "doomed", "developer")
            admin.member("pub", "ruby", "developer")
            robot = admin.robot("ci", "red", "repository:pull", "repository:push")
        with basic(server, "ruby", "ruby-password") as ruby:
            image = make_image(layer_data=[SHARED, RED_ONLY])
            push_image(ruby, "red/app", image, tag="v1")
            push_image(ruby, "pub/app", make_image(layers=1), tag="v1")
            referrer = make_image(layers=1, subject=descriptor(image.manifest, OCI_MANIFEST),
                                  artifact_type="application/vnd.example.sig")  # fmt: skip
            push_image(ruby, "red/app", referrer)
        with basic(server, "bluey", "bluey-password") as bluey:
            push_image(bluey, "blue/app", make_image(layer_data=[SHARED]), tag="v1")
        yield World(server, image.digest, robot)


def test_blobs_of_another_project_are_neither_readable_nor_visible(world: World) -> None:
    with basic(world.server, "bluey", "bluey-password") as bluey:
        for method in ("HEAD", "GET"):
            refused = bluey.request(method, f"/v2/red/app/blobs/{sha256(RED_ONLY)}")
            assert refused.status_code == 403
        assert_oci_error(bluey.get(f"/v2/red/app/blobs/{sha256(SHARED)}"), 403, "DENIED")
        # The bytes exist (red pushed them), but blue never linked them: unknown here.
        assert bluey.head(f"/v2/blue/app/blobs/{sha256(RED_ONLY)}").status_code == 404
        assert_oci_error(bluey.get(f"/v2/blue/app/blobs/{sha256(RED_ONLY)}"), 404, "BLOB_UNKNOWN")
        assert bluey.head(f"/v2/blue/app/blobs/{sha256(SHARED)}").status_code == 200
        assert_oci_error(bluey.get(f"/v2/red/app/manifests/{world.red_manifest}"), 403, "DENIED")
        unknown = bluey.get(f"/v2/blue/app/manifests/{world.red_manifest}")
        assert_oci_error(unknown, 404, "MANIFEST_UNKNOWN")
        assert_oci_error(bluey.get("/v2/red/app/tags/list"), 403, "DENIED")
        assert bluey.get("/v2/_catalog").json()["repositories"] == ["blue/app", "pub/app"]


def test_mounts_never_borrow_from_an_unreadable_repository(world: World) -> None:
    digest = sha256(RED_ONLY)
    with basic(world.server, "bluey", "bluey-password") as bluey:
        mount = {"mount": digest, "from": "red/app"}
        with_from = bluey.post("/v2/blue/app/blobs/uploads/", params=mount)
        assert with_from.status_code == 202  # a fresh upload, not a mount
        without = bluey.post("/v2/blue/app/blobs/uploads/", params={"mount": digest})
        assert without.status_code == 202
        assert bluey.head(f"/v2/blue/app/blobs/{digest}").status_code == 404
        bogus = make_image(layer_data=[RED_ONLY])
        bluey.post("/v2/blue/app/blobs/uploads/", params={"digest": sha256(bogus.config)},
                   content=bogus.config)  # fmt: skip
        refused = bluey.put("/v2/blue/app/manifests/stolen", content=bogus.manifest,
                            headers={"Content-Type": OCI_MANIFEST})  # fmt: skip
        assert_oci_error(refused, 400, "MANIFEST_BLOB_UNKNOWN")
    with basic(world.server, "ruby", "ruby-password") as ruby:
        mounted = ruby.post("/v2/red/copy/blobs/uploads/", params={"mount": digest,
                                                                   "from": "red/app"})  # fmt: skip
        assert mounted.status_code == 201  # a reader of the source may mount


def test_an_index_never_references_a_manifest_of_another_repository(world: World) -> None:
    with basic(world.server, "ruby", "ruby-password") as ruby:
        red = ruby.get(f"/v2/red/app/manifests/{world.red_manifest}").content
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                        "manifests": [descriptor(red, OCI_MANIFEST)]}).encode()  # fmt: skip
    with basic(world.server, "bluey", "bluey-password") as bluey:
        refused = bluey.put("/v2/blue/app/manifests/borrowed", content=index,
                            headers={"Content-Type": OCI_INDEX})  # fmt: skip
        entry = assert_oci_error(refused, 400, "MANIFEST_BLOB_UNKNOWN")
        assert entry["detail"]["digests"] == [world.red_manifest]
        assert bluey.head("/v2/blue/app/manifests/borrowed").status_code == 404


def test_referrers_stay_in_their_repository(world: World) -> None:
    subject = world.red_manifest
    with basic(world.server, "ruby", "ruby-password") as ruby:
        index = ruby.get(f"/v2/red/app/referrers/{subject}").json()
        assert len(index["manifests"]) == 1
    with basic(world.server, "bluey", "bluey-password") as bluey:
        assert_oci_error(bluey.get(f"/v2/red/app/referrers/{subject}"), 403, "DENIED")
        assert bluey.get(f"/v2/blue/app/referrers/{subject}").json()["manifests"] == []


def test_upload_sessions_are_bound_to_repository_and_principal(world: World) -> None:
    with basic(world.server, "ruby", "ruby-password") as ruby:
        started = ruby.post("/v2/red/app/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["location"]
        session = location.rsplit("/", 1)[-1]
    with basic(world.server, "rex", "rex-password") as rex:  # same project, other user
        assert_oci_error(rex.patch(location, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
        moved = rex.patch(f"/v2/red/other/blobs/uploads/{session}", content=b"x")
        assert_oci_error(moved, 404, "BLOB_UPLOAD_UNKNOWN")
    with basic(world.server, "bluey", "bluey-password") as bluey:
        assert_oci_error(bluey.patch(location, content=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
        moved = bluey.patch(f"/v2/blue/app/blobs/uploads/{session}", content=b"x")
        assert_oci_error(moved, 404, "BLOB_UPLOAD_UNKNOWN")
    with basic(world.server, "ruby", "ruby-password") as ruby:
        assert ruby.patch(location, content=b"mine").status_code == 202


def test_public_and_private_projects(world: World) -> None:
    with world.server.client() as anonymous:
        assert anonymous.get("/v2/pub/app/manifests/v1").status_code == 200
        assert anonymous.get("/v2/pub/app/tags/list").json()["tags"] == ["v1"]
        private = anonymous.get("/v2/red/app/manifests/v1")
        assert_oci_error(private, 401, "UNAUTHORIZED")
        assert private.headers["www-authenticate"].startswith("Basic ")
        assert_oci_error(anonymous.post("/v2/pub/app/blobs/uploads/"), 401, "UNAUTHORIZED")
        assert anonymous.get("/v2/").status_code == 401  # clients learn to log in here
    with basic(world.server, "bluey", "bluey-password") as bluey:
        assert bluey.get("/v2/pub/app/manifests/v1").status_code == 200
        assert_oci_error(bluey.post("/v2/pub/app/blobs/uploads/"), 403, "DENIED")


def test_revoked_robot_and_deleted_user_are_refused_at_once(world: World) -> None:
    robot_id, name, secret = world.robot
    with basic(world.server, name, secret) as robot:
        assert robot.get("/v2/red/app/tags/list").status_code == 200
        assert robot.post("/v2/red/app/blobs/uploads/").status_code == 202
        assert robot.get("/v2/blue/app/tags/list").status_code == 403
        with Api(world.server) as admin:
            admin.ok("DELETE", f"/robots/{robot_id}", 204)
        assert_oci_error(robot.get("/v2/red/app/tags/list"), 401, "UNAUTHORIZED")
    with basic(world.server, "doomed", "doomed-password") as doomed:
        assert doomed.get("/v2/blue/app/tags/list").status_code == 200
        with Api(world.server) as admin:
            admin.ok("DELETE", "/users/doomed", 204)
        assert_oci_error(doomed.get("/v2/blue/app/tags/list"), 401, "UNAUTHORIZED")


def test_narrowed_grants(world: World) -> None:
    with Api(world.server) as admin:
        admin.user("ci-only", "ci-only-password")
        admin.member("red", "ci-only", "developer", "ci-*")
    with basic(world.server, "ci-only", "ci-only-password") as ci:
        push_image(ci, "red/ci-build", make_image(layers=1), tag="v1")
        assert_oci_error(ci.post("/v2/red/app/blobs/uploads/"), 403, "DENIED")
        assert ci.get("/v2/red/app/tags/list").status_code == 403


# --- the same guarantees with bearer tokens from dockyard's token service ---------------------


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("isolation-tokens")
    with identity_server(workdir, REGISTRY_DOCKYARD_TOKEN_ENABLED="true") as server:
        with Api(server) as admin:
            admin.user("tess", "tess-password")
            admin.project("red")
            admin.project("pub", public=True)
            admin.member("red", "tess", "developer")
            admin.member("pub", "tess", "developer")
        yield server


def token(server: RunningServer, auth: tuple[str, str] | None, *scopes: str) -> dict[str, str]:
    params = [("service", "dockyard"), *(("scope", s) for s in scopes)]
    response = httpx.get(server.url + "/token", params=params, auth=auth)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(server: RunningServer, value: str) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {value}"})


def test_token_scopes_follow_the_grants(issuer: RunningServer) -> None:
    asked = ["repository:red/app:pull,push,delete", "repository:other/app:pull",
             "registry:catalog:*"]  # fmt: skip
    granted = token(issuer, ("tess", "tess-password"), *asked)
    assert granted["scope"] == "repository:red/app:pull,push registry:catalog:*"  # filtered
    anonymous = token(issuer, None, "repository:pub/app:pull,push", "repository:red/app:pull")
    assert anonymous["scope"] == "repository:pub/app:pull"
    admin = token(issuer, ADMIN, *asked)
    assert "registry:catalog:*" in admin["scope"]
    with bearer(issuer, granted["token"]) as client:
        push_image(client, "red/app", make_image(layers=1), tag="v1")


def test_revocation_reaches_live_bearer_tokens(issuer: RunningServer) -> None:
    with Api(issuer) as admin:
        robot_id, name, secret = admin.robot("bot", "red", "repository:pull")
        admin.user("gone", "gone-password")
        admin.member("red", "gone", "guest")
    robot_token = token(issuer, (name, secret), "repository:red/app:pull")["token"]
    user_token = token(issuer, ("gone", "gone-password"), "repository:red/app:pull")["token"]
    with bearer(issuer, robot_token) as robot, bearer(issuer, user_token) as gone:
        assert robot.get("/v2/red/app/tags/list").status_code == 200
        assert gone.get("/v2/red/app/tags/list").status_code == 200
        with Api(issuer) as admin:
            admin.ok("PATCH", f"/robots/{robot_id}", json={"disabled": True})
            admin.ok("DELETE", "/users/gone", 204)
        refused = robot.get("/v2/red/app/tags/list")
        assert_oci_error(refused, 401, "UNAUTHORIZED")
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        assert_oci_error(gone.get("/v2/red/app/tags/list"), 401, "UNAUTHORIZED")
    refused_login = httpx.get(issuer.url + "/token", params={"service": "dockyard"},
                              auth=(name, secret))  # fmt: skip
    assert refused_login.status_code == 401


def test_revoked_personal_access_token_stops_its_bearer_tokens(issuer: RunningServer) -> None:
    with Api(issuer, ("tess", "tess-password")) as tess:
        made = tess.ok("POST", "/tokens", 201, json={"name": "ci"})
        live = token(issuer, ("tess", made["secret"]), "repository:red/app:pull")["token"]
        with bearer(issuer, live) as client:
            assert client.get("/v2/red/app/tags/list").status_code == 200
            tess.ok("DELETE", f"/tokens/{made['token']['id']}", 204)
            assert_oci_error(client.get("/v2/red/app/tags/list"), 401, "UNAUTHORIZED")


def offline(server: RunningServer, auth: tuple[str, str]) -> dict[str, str]:
    """An access token for red/app and a refresh token."""
    params = {"service": "dockyard", "offline_token": "true", "scope": "repository:red/app:pull"}
    response = httpx.get(server.url + "/token", params=params, auth=auth)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def assert_all_cut(server: RunningServer, issued: dict[str, str]) -> None:
    """Neither the access token nor the refresh token of ``issued`` works any more."""
    with bearer(server, issued["token"]) as client:
        refused = client.get("/v2/red/app/tags/list")
        assert_oci_error(refused, 401, "UNAUTHORIZED")
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    form = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
            "service": "dockyard", "scope": "repository:red/app:pull"}  # fmt: skip
    assert_oci_error(httpx.post(server.url + "/token", data=form), 401, "UNAUTHORIZED")


def test_a_new_robot_secret_cuts_the_tokens_issued_before(issuer: RunningServer) -> None:
    with Api(issuer) as admin:
        robot_id, name, secret = admin.robot("rotor", "red", "repository:pull")
        before = offline(issuer, (name, secret))
        with bearer(issuer, before["token"]) as client:
            assert client.get("/v2/red/app/tags/list").status_code == 200
        fresh = admin.ok("POST", f"/robots/{robot_id}/secret")["secret"]
    assert_all_cut(issuer, before)
    old_login = httpx.get(issuer.url + "/token", params={"service": "dockyard"},
                          auth=(name, secret))  # fmt: skip
    assert old_login.status_code == 401
    current = offline(issuer, (name, fresh))
    with bearer(issuer, current["token"]) as client:
        assert client.get("/v2/red/app/tags/list").status_code == 200
    with Api(issuer) as admin:  # disabled and enabled again: what it held before stays cut
        admin.ok("PATCH", f"/robots/{robot_id}", json={"disabled": True})
        admin.ok("PATCH", f"/robots/{robot_id}", json={"disabled": False})
    assert_all_cut(issuer, current)


def test_disabling_a_user_cuts_everything_issued_before_for_good(issuer: RunningServer) -> None:
    with Api(issuer) as admin:
        admin.user("paused", "paused-password")
        admin.member("red", "paused", "guest")
    with Api(issuer, ("paused", "paused-password")) as paused:
        pat = paused.ok("POST", "/tokens", 201, json={"name": "ci"})["secret"]
    by_password = offline(issuer, ("paused", "paused-password"))
    by_pat = offline(issuer, ("paused", pat))
    with Api(issuer) as admin:
        admin.ok("PATCH", "/users/paused", json={"disabled": True})
        admin.ok("PATCH", "/users/paused", json={"disabled": False})
        assert admin.ok("GET", "/tokens", params={"user": "paused"})["items"] == []
    for issued in (by_password, by_pat):
        assert_all_cut(issuer, issued)
    for auth in (("paused", pat), ("paused", "paused-password")):
        login = httpx.get(issuer.url + "/token", params={"service": "dockyard"}, auth=auth)
        assert login.status_code == (401 if auth[1] == pat else 200)


def from_address(source: str, server: RunningServer) -> httpx.Client:
    """A client whose connections come from loopback address ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=server.url, transport=transport, timeout=30)


def audited(server: RunningServer, event: str, client: str) -> list[dict[str, Any]]:
    """The audit rows of ``event`` from ``client``, once the batch writer has written one."""
    deadline = time.monotonic() + 30
    while True:
        with Api(server) as admin:
            rows = admin.ok("GET", "/audit", params={"event": event, "limit": "500"})["items"]
        mine = [row for row in rows if row["client"] == client]
        if mine or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def test_refused_tokens_and_throttled_logins_are_audited_once_per_address(
    issuer: RunningServer,
) -> None:
    with from_address("127.0.0.7", issuer) as flood:
        flood.headers["Authorization"] = "Bearer not.a.token"
        for _ in range(30):
            assert_oci_error(flood.get("/v2/red/app/tags/list"), 401, "UNAUTHORIZED")
        for _ in range(12):
            flood.get("/token", params={"service": "dockyard"}, auth=("nobody", "guess"))
        assert_oci_error(flood.get("/token", auth=("nobody", "guess")), 429, "TOOMANYREQUESTS")
    tokens = audited(issuer, "token.refused", "127.0.0.7")
    assert len(tokens) == 1, tokens  # sampled: one row for the whole flood
    assert tokens[0]["outcome"] == "failure" and tokens[0]["detail"]["reason"] == "invalid"
    throttled = audited(issuer, "login.throttled", "127.0.0.7")
    assert len(throttled) == 1 and throttled[0]["actor"] == "nobody", throttled
    with Api(issuer) as admin:
        admin.user("brief", "brief-password")
        admin.member("red", "brief", "guest")
    live = token(issuer, ("brief", "brief-password"), "repository:red/app:pull")["token"]
    with Api(issuer) as admin:
        admin.ok("PATCH", "/users/brief", json={"disabled": True})
    with from_address("127.0.0.8", issuer) as client:
        client.headers["Authorization"] = f"Bearer {live}"
        assert_oci_error(client.get("/v2/red/app/tags/list"), 401, "UNAUTHORIZED")
    revoked = audited(issuer, "token.refused", "127.0.0.8")
    assert [(r["actor"], r["detail"]["reason"]) for r in revoked] == [("brief", "revoked")]


def test_mounts_with_tokens_borrow_only_what_the_token_may_pull(issuer: RunningServer) -> None:
    layer = os.urandom(1024)
    digest = sha256(layer)
    vault = token(issuer, ADMIN, "repository:vault/app:pull,push")["token"]
    with bearer(issuer, vault) as admin:
        assert push_blob(admin, "vault/app", layer).status_code == 201
    tess = ("tess", "tess-password")
    asked = ("repository:red/copy:pull,push", "repository:vault/app:pull")
    granted = token(issuer, tess, *asked)
    assert granted["scope"] == "repository:red/copy:pull,push"  # vault: not hers
    with bearer(issuer, granted["token"]) as client:
        # a named source the token may not pull: 401 naming its scope (registry:2's rule)
        _refused_mount(client, digest, "vault/app")
        # no source named: only what she may pull could be mounted; not this, so an upload
        unnamed = client.post("/v2/red/copy/blobs/uploads/", params={"mount": digest})
        assert unnamed.status_code == 202
        assert client.head(f"/v2/red/copy/blobs/{digest}").status_code == 404
        outside = client.post("/v2/red/source/blobs/uploads/")  # not in the token
        assert_oci_error(outside, 401, "UNAUTHORIZED")
        assert 'error="insufficient_scope"' in outside.headers["www-authenticate"]
    source = token(issuer, tess, "repository:red/source:pull,push")["token"]
    with bearer(issuer, source) as client:
        assert push_blob(client, "red/source", layer).status_code == 201
    # tess may pull red/source, but a token that does not name it cannot borrow from it
    with bearer(issuer, granted["token"]) as client:
        _refused_mount(client, digest, "red/source")
    both = token(issuer, tess, "repository:red/copy:pull,push", "repository:red/source:pull")
    with bearer(issuer, both["token"]) as client:
        mount = {"mount": digest, "from": "red/source"}
        assert client.post("/v2/red/copy/blobs/uploads/", params=mount).status_code == 201


def _refused_mount(client: httpx.Client, digest: str, source: str) -> None:
    refused = client.post("/v2/red/copy/blobs/uploads/", params={"mount": digest, "from": source})
    assert_oci_error(refused, 401, "UNAUTHORIZED")
    assert f"repository:{source}:pull" in refused.headers["www-authenticate"]
    assert client.head(f"/v2/red/copy/blobs/{digest}").status_code == 404, "mounted anyway"


def test_refresh_tokens_follow_the_user(issuer: RunningServer) -> None:
    with Api(issuer) as admin:
        admin.user("fresh", "fresh-password")
        admin.member("red", "fresh", "developer")
    params = {"service": "dockyard", "offline_token": "true", "scope": "repository:red/app:pull"}
    first = httpx.get(issuer.url + "/token", params=params, auth=("fresh", "fresh-password"))
    refresh = first.json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "dockyard",
            "scope": "repository:red/app:pull,push repository:blue/app:pull"}  # fmt: skip
    again = httpx.post(issuer.url + "/token", data=form)
    assert again.status_code == 200, again.text
    assert again.json()["scope"] == "repository:red/app:pull,push"  # the grants, not more
    with bearer(issuer, again.json()["access_token"]) as client:
        push_image(client, "red/app", make_image(layers=1), tag="refreshed")
    with bearer(issuer, refresh) as client:  # never an access token
        assert_oci_error(client.get("/v2/red/app/tags/list"), 401, "UNAUTHORIZED")
    password = {"grant_type": "password", "username": "fresh", "password": "fresh-password",
                "access_type": "offline", "service": "dockyard"}  # fmt: skip
    second = httpx.post(issuer.url + "/token", data=password).json()["refresh_token"]
    with Api(issuer) as admin:
        admin.ok("PATCH", "/users/fresh", json={"password": "changed-password"})
    for old in (refresh, second):
        revoked = httpx.post(issuer.url + "/token", data={**form, "refresh_token": old})
        assert_oci_error(revoked, 401, "UNAUTHORIZED")


@pytest.mark.clients
def test_podman_and_skopeo_log_in_with_a_robot(
    issuer: RunningServer, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from e2e.clientkit import Clients, OciLayout, host_of
    from e2e.clientkit import make_image as make_layout_image

    with Api(issuer) as admin:
        _, name, secret = admin.robot("podman", "red", "repository:pull", "repository:push")
    clients = Clients(tmp_path_factory.mktemp("clients"))
    host, no_tls = host_of(issuer), "--tls-verify=false"
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_layout_image([{"etc/motd": b"pushed by a robot\n"}]), "v1")
    image_id = clients.podman("pull", "-q", f"oci:{layout.path}:v1").stdout.split()[-1]
    login = clients.podman("login", no_tls, "--username", name, "--password-stdin", host,
                           input_text=secret + "\n")  # fmt: skip
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
    clients.podman("push", no_tls, image_id, f"{host}/red/robot-app:v1")
    denied = clients.podman("push", no_tls, image_id, f"{host}/pub/robot-app:v1", check=False)
    assert denied.returncode != 0
    inspected = clients.skopeo("inspect", no_tls, "--creds", f"{name}:{secret}",
                               f"docker://{host}/red/robot-app:v1")  # fmt: skip
    assert json.loads(inspected.stdout)["Name"] == f"{host}/red/robot-app"
    assert secret not in issuer.log()
