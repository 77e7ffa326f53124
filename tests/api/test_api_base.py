"""The base endpoint, unknown routes, health, request ids."""

from __future__ import annotations

import httpx

from support.oci import assert_oci_error


def test_base_endpoint_advertises_api_version(client: httpx.Client) -> None:
    response = client.get("/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert response.json() == {}


def test_base_endpoint_without_trailing_slash(client: httpx.Client) -> None:
    assert client.get("/v2").status_code == 200


def test_unknown_route_is_an_oci_error(client: httpx.Client) -> None:
    assert_oci_error(client.get("/v2/foo/bar/unknown"), 404, "UNSUPPORTED")


def test_wrong_method_is_405_with_allow(client: httpx.Client) -> None:
    response = client.post("/v2/foo/manifests/latest")
    entry = assert_oci_error(response, 405, "UNSUPPORTED")
    assert "POST" in entry["message"]
    assert "PUT" in response.headers["Allow"]


def test_health(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_request_id_is_returned_and_echoed(client: httpx.Client) -> None:
    generated = client.get("/v2/")
    assert len(generated.headers["X-Request-Id"]) >= 8
    echoed = client.get("/v2/", headers={"X-Request-Id": "trace-123"})
    assert echoed.headers["X-Request-Id"] == "trace-123"
