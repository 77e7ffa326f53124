"""tags/list and _catalog: lexical order, n/last pagination, Link headers, bad input."""

from __future__ import annotations

import re

import httpx

from support.oci import assert_oci_error, make_image, push_image


def _next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    found = re.match(r'^<([^>]+)>; rel="next"$', link)
    assert found, link
    return found.group(1)


def test_tags_pagination_walks_every_tag_once(client: httpx.Client, repo: str) -> None:
    image = make_image(layers=1, size=16)
    push_image(client, repo, image)
    names = [f"t{i:03d}" for i in range(25)]
    params = [("tag", n) for n in names]
    for blob_tag in range(0, 25, 10):
        response = client.put(
            f"/v2/{repo}/manifests/{image.digest}",
            params=params[blob_tag : blob_tag + 10],
            content=image.manifest,
            headers={"Content-Type": image.media_type},
        )
        assert response.status_code == 201
    seen: list[str] = []
    url: str | None = f"/v2/{repo}/tags/list?n=10"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        assert body["name"] == repo
        seen += body["tags"]
        url = _next_link(response)
        pages += 1
    assert seen == names
    assert pages == 3


def test_tags_last_and_n_zero(client: httpx.Client, repo: str) -> None:
    image = make_image(layers=1, size=16)
    for tag in ("a", "b", "c"):
        push_image(client, repo, image, tag=tag)
    assert client.get(f"/v2/{repo}/tags/list", params={"last": "a"}).json()["tags"] == ["b", "c"]
    assert client.get(f"/v2/{repo}/tags/list", params={"n": "0"}).json()["tags"] == []
    big = client.get(f"/v2/{repo}/tags/list", params={"n": "999999999"})
    assert big.status_code == 200 and big.json()["tags"] == ["a", "b", "c"]


def test_tags_of_unknown_repository(client: httpx.Client) -> None:
    assert_oci_error(client.get("/v2/never/pushed/tags/list"), 404, "NAME_UNKNOWN")


def test_bad_n(client: httpx.Client, repo: str) -> None:
    for bad in ("-1", "abc", "1.5"):
        assert_oci_error(
            client.get("/v2/_catalog", params={"n": bad}), 400, "PAGINATION_NUMBER_INVALID"
        )
        assert_oci_error(
            client.get(f"/v2/{repo}/tags/list", params={"n": bad}), 400, "PAGINATION_NUMBER_INVALID"
        )


def test_catalog_lists_pushed_repositories_with_pagination(client: httpx.Client, repo: str) -> None:
    image = make_image(layers=1, size=16)
    names = [f"{repo}/r{i}" for i in range(7)]
    for name in names:
        push_image(client, name, image, tag="x")
    seen: list[str] = []
    url: str | None = f"/v2/_catalog?n=3&last={repo}/"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.json()["repositories"]
        assert len(page) <= 3
        seen += page
        url = _next_link(response)
        if seen and not seen[-1].startswith(repo):
            break
    assert [s for s in seen if s.startswith(f"{repo}/")] == sorted(names)


def test_catalog_huge_n_is_clamped(client: httpx.Client, repo: str) -> None:
    push_image(client, repo, make_image(layers=1, size=8), tag="x")
    response = client.get("/v2/_catalog", params={"n": "999999999"})
    assert response.status_code == 200
    repositories = response.json()["repositories"]
    assert 1 <= len(repositories) <= 1000
    assert repositories == sorted(repositories)
