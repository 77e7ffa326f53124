"""``createonpush`` with the token service, against a real server: a token request creates
no project, however many repositories it names; the first push into one creates that one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.identity import Api, identity_server
from support.oci import make_image, push_image, sha256
from support.server import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("create-on-push")
    env = {"REGISTRY_DOCKYARD_TOKEN_ENABLED": "true",
           "REGISTRY_DOCKYARD_IDENTITY_CREATEONPUSH": "true"}  # fmt: skip
    with identity_server(workdir, **env) as running:
        with Api(running) as admin:
            admin.user("carol", "carol-password")
            admin.project("taken")
        yield running


def projects(server: RunningServer) -> set[str]:
    with Api(server) as admin:
        found = admin.ok("GET", "/projects", params={"limit": "500"})["items"]
    return {project["name"] for project in found}


def token(server: RunningServer, *scopes: str) -> dict[str, Any]:
    params = [("service", "dockyard"), *(("scope", s) for s in scopes)]
    response = httpx.get(server.url + "/token", params=params, auth=("carol", "carol-password"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_token_request_creates_no_project_and_the_first_push_does(
    server: RunningServer,
) -> None:
    before = projects(server)
    asked = [f"repository:spree{n}/app:pull,push" for n in range(64)]
    granted = token(server, *asked)
    assert granted["scope"] == " ".join(asked)  # push rights for projects not made yet
    assert projects(server) == before, "asking for a token created projects"
    with server.client(headers={"Authorization": f"Bearer {granted['token']}"}) as client:
        push_image(client, "spree7/app", make_image(layers=1), tag="v1")
    assert projects(server) == before | {"spree7"}
    with Api(server, ("carol", "carol-password")) as carol:  # she owns what she pushed
        members = carol.ok("GET", "/projects/spree7/members")["items"]
        assert [(m["name"], m["role"]) for m in members] == [("carol", "admin")]
    with Api(server) as admin:
        made = admin.ok("GET", "/audit", params={"event": "project.create"})["items"]
    assert [e["target"] for e in made if e["actor"] == "carol"] == ["project:spree7"]


def test_no_push_rights_on_a_project_that_exists(server: RunningServer) -> None:
    granted = token(server, "repository:taken/app:pull,push")
    assert granted["scope"] == ""  # someone else's project: not hers by pushing


def test_a_token_without_push_creates_nothing_even_at_an_upload(server: RunningServer) -> None:
    granted = token(server, "repository:pullonly/app:pull")
    with server.client(headers={"Authorization": f"Bearer {granted['token']}"}) as client:
        refused = client.post("/v2/pullonly/app/blobs/uploads/")
    assert refused.status_code == 401
    assert "pullonly" not in projects(server)


def test_a_push_may_look_for_its_layers_before_the_project_exists(server: RunningServer) -> None:
    """docker, podman and skopeo ask whether each layer (and the tag) is there before they
    upload: in a project the token lets her create, that is a 404 as in any empty
    repository, not a 401 that ends the push; asking creates nothing, the upload does."""
    granted = token(server, "repository:lookfirst/app:pull,push")
    image = make_image(layers=1)
    layer = sha256(image.layers[0])
    with server.client(headers={"Authorization": f"Bearer {granted['token']}"}) as client:
        assert client.head(f"/v2/lookfirst/app/blobs/{layer}").status_code == 404
        assert client.head("/v2/lookfirst/app/manifests/v1").status_code == 404
        tags = client.get("/v2/lookfirst/app/tags/list")
        assert tags.status_code == 404 and tags.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        assert "lookfirst" not in projects(server), "a read created the project"
        push_image(client, "lookfirst/app", image, tag="v1")
        assert client.head(f"/v2/lookfirst/app/blobs/{layer}").status_code == 200
    assert "lookfirst" in projects(server)


def test_a_pull_token_still_cannot_read_a_project_that_does_not_exist(
    server: RunningServer,
) -> None:
    granted = token(server, "repository:nosuch/app:pull")
    with server.client(headers={"Authorization": f"Bearer {granted['token']}"}) as client:
        assert client.get("/v2/nosuch/app/tags/list").status_code == 401


@pytest.fixture(scope="module")
def basic_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """createonpush without the token service: HTTP Basic on /v2."""
    workdir = tmp_path_factory.mktemp("create-on-push-basic")
    with identity_server(workdir, REGISTRY_DOCKYARD_IDENTITY_CREATEONPUSH="true") as running:
        with Api(running) as admin:
            admin.user("dave", "dave-password")
            admin.project("owned")
        yield running


def test_with_basic_a_push_may_look_for_its_layers_before_the_project_exists(
    basic_server: RunningServer,
) -> None:
    image = make_image(layers=1)
    layer = sha256(image.layers[0])
    with basic_server.client(auth=("dave", "dave-password")) as client:
        assert client.head(f"/v2/davesown/app/blobs/{layer}").status_code == 404
        assert client.head("/v2/davesown/app/manifests/v1").status_code == 404
        assert "davesown" not in projects(basic_server), "a read created the project"
        refused = client.get("/v2/owned/app/tags/list")  # someone else's project: still refused
        assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "DENIED"
        push_image(client, "davesown/app", image, tag="v1")
        assert client.head(f"/v2/davesown/app/blobs/{layer}").status_code == 200
    assert "davesown" in projects(basic_server)
