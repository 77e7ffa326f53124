"""Repository names are validated before they touch anything."""

from __future__ import annotations

import http.client
import json

import httpx
import pytest

from support.oci import assert_oci_error, sha256
from support.server import RunningServer

BAD_NAMES = [
    "UpperCase",
    "a//b",
    "-lead",
    "trail-",
    "a/b/",
    "x" * 256,
    "a/" + "b" * 254,
    "sp ace",
    "a:b",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_everywhere(client: httpx.Client, name: str) -> None:
    digest = sha256(b"x")
    calls = [
        client.post(f"/v2/{name}/blobs/uploads/"),
        client.get(f"/v2/{name}/blobs/{digest}"),
        client.get(f"/v2/{name}/manifests/latest"),
        client.put(f"/v2/{name}/manifests/latest", content=b"{}"),
        client.get(f"/v2/{name}/tags/list"),
        client.get(f"/v2/{name}/referrers/{digest}"),
    ]
    for response in calls:
        if response.status_code == 404:
            # httpx normalises some paths ("..", trailing "/") so no route matches; that is
            # still a clean OCI error, never a lookup.
            assert_oci_error(response, 404, "UNSUPPORTED")
        else:
            assert_oci_error(response, 400, "NAME_INVALID")


def test_name_of_exactly_255_characters_is_valid(client: httpx.Client) -> None:
    name = "a" * 100 + "/" + "b" * 154
    assert len(name) == 255
    assert client.post(f"/v2/{name}/blobs/uploads/").status_code == 202


def test_dot_dot_components_sent_raw_are_refused(registry: RunningServer) -> None:
    """httpx would normalise ``..`` away, so send the request line as written."""
    connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=10)
    try:
        for path in (
            "/v2/a/../b/blobs/uploads/",
            "/v2/../etc/manifests/latest",
            "/v2/a/./b/tags/list",
        ):
            connection.request("POST" if "uploads" in path else "GET", path)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status in (400, 404), path
            assert body["errors"][0]["code"] in ("NAME_INVALID", "UNSUPPORTED"), body
    finally:
        connection.close()
