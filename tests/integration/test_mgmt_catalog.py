"""``/v2/_catalog`` with identity management on, against a real server over HTTP: each caller
sees exactly the repositories it may pull, page after full page, and a private repository's
name never reaches an outsider (HTTP Basic, anonymous, and bearer tokens)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from support.identity import ADMIN, Api, identity_server
from support.oci import push_blob
from support.server import RunningServer

BLOB = b"catalog-test-layer"
SECRET = ["secret/app", "secret/zzz/deep"]
PUBLIC = ["pub", "pub/app", *(f"pub/many-{n:03d}" for n in range(45))]
TEAM = ["team/app", "team/ci-build", "team/ci-test", "team/cix"]
NEIGHBOURS = ["pub-x/app", "pubx"]  # sort between pub's names; private, project of their own
EVERY = sorted(SECRET + PUBLIC + TEAM + NEIGHBOURS)


@dataclass
class World:
    server: RunningServer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with identity_server(tmp_path_factory.mktemp("catalog")) as server:
        with Api(server) as admin:
            admin.user("owner", "owner-password")
            admin.user("outsider", "outsider-password")
            admin.user("ci", "ci-password")
            admin.project("pub", public=True)
            for name in ("secret", "team", "pub-x", "pubx"):
                admin.project(name)
            admin.member("secret", "owner", "developer")
            admin.member("team", "ci", "guest", "ci-*")
        with server.client(auth=ADMIN) as client:
            for name in EVERY:
                push_blob(client, name, BLOB)  # a repository exists once it holds a blob
        yield World(server)


def walk(client: httpx.Client, n: int) -> tuple[list[str], list[int]]:
    """Every name, following Link headers; also the size of each page."""
    names: list[str] = []
    sizes: list[int] = []
    url: str | None = f"/v2/_catalog?n={n}"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()["repositories"]
        names += page
        sizes.append(len(page))
        found = re.match(r"<([^>]+)>", response.headers.get("link", ""))
        url = found.group(1) if found else None
        assert len(sizes) < 200, "paging does not end"
    return names, sizes


def full_pages(sizes: list[int], n: int) -> bool:
    return all(size == n for size in sizes[:-1]) and 0 < sizes[-1] <= n


def test_an_outsider_sees_only_public_repositories(world: World) -> None:
    with world.server.client(auth=("outsider", "outsider-password")) as outsider:
        for n in (1, 7, 100):
            names, sizes = walk(outsider, n)
            assert names == PUBLIC
            assert full_pages(sizes, n)
        body = outsider.get("/v2/_catalog").text
        assert "secret" not in body and "team" not in body and "pubx" not in body
        # A crafted cursor does not reveal what follows it either.
        after = outsider.get("/v2/_catalog", params={"last": "secret/"}).json()["repositories"]
        assert after == []


def test_members_see_their_projects_and_patterns(world: World) -> None:
    with world.server.client(auth=("owner", "owner-password")) as owner:
        names, sizes = walk(owner, 5)
        assert names == sorted(PUBLIC + SECRET)
        assert full_pages(sizes, 5)
    with world.server.client(auth=("ci", "ci-password")) as ci:
        names, sizes = walk(ci, 4)
        assert names == sorted([*PUBLIC, "team/ci-build", "team/ci-test"])
        assert full_pages(sizes, 4)


def test_administrators_see_everything(world: World) -> None:
    with world.server.client(auth=ADMIN) as admin:
        names, sizes = walk(admin, 10)
        assert names == EVERY
        assert full_pages(sizes, 10)


def test_anonymous_callers_see_public_projects(world: World) -> None:
    with world.server.client() as anonymous:
        names, _ = walk(anonymous, 20)
        assert names == PUBLIC


def test_bearer_tokens_get_the_same_filtered_catalog(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    workdir = tmp_path_factory.mktemp("catalog-token")
    with identity_server(workdir, REGISTRY_DOCKYARD_TOKEN_ENABLED="true") as server:
        with Api(server) as admin:
            admin.user("reader", "reader-password")
            admin.project("open", public=True)
            admin.project("closed")
        for name in ("open/app", "closed/app"):
            token = _token(server, ADMIN, f"repository:{name}:push,pull")
            with server.client(headers={"Authorization": f"Bearer {token}"}) as client:
                push_blob(client, name, BLOB)
        token = _token(server, ("reader", "reader-password"), "registry:catalog:*")
        with server.client(headers={"Authorization": f"Bearer {token}"}) as reader:
            assert reader.get("/v2/_catalog").json()["repositories"] == ["open/app"]
        token = _token(server, ADMIN, "registry:catalog:*")
        with server.client(headers={"Authorization": f"Bearer {token}"}) as admin_client:
            assert admin_client.get("/v2/_catalog").json()["repositories"] == [
                "closed/app",
                "open/app",
            ]


def _token(server: RunningServer, auth: tuple[str, str], scope: str) -> str:
    response = httpx.get(
        server.url + "/token", params={"service": "dockyard", "scope": scope}, auth=auth
    )
    assert response.status_code == 200, response.text
    assert scope.split(":", maxsplit=1)[0] in response.json()["scope"]
    return str(response.json()["token"])
