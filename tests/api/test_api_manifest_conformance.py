"""Manifests against bad input and the OCI conformance suite's expectations: nesting limits,
references that cannot exist, ``?tag=`` pushes (``OCI-Tag``), sha512 manifests, descriptor sizes
and sparse indexes."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import httpx
import pytest

from support.oci import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_oci_error,
    make_image,
    push_blob,
    push_image,
)

DEEP = b"[" * 1000 + b"]" * 1000


# JSON nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["top-level field", "annotations", "config descriptor"])
def test_deeply_nested_manifest_is_400_not_500(client: httpx.Client, repo: str, where: str) -> None:
    image = make_image(layers=1)
    body = json.loads(image.manifest)
    if where == "top-level field":
        body["extra"] = "DEEP"
    elif where == "annotations":
        body["annotations"] = {"a": "DEEP"}
    else:
        body["config"]["platform"] = {"os": "DEEP"}
    raw = json.dumps(body).encode().replace(b'"DEEP"', DEEP)
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    response = client.put(
        f"/v2/{repo}/manifests/deep", content=raw, headers={"Content-Type": OCI_MANIFEST}
    )
    entry = assert_oci_error(response, 400, "MANIFEST_INVALID")
    assert "deeper than 64 levels" in entry["message"]
    assert entry["detail"] == {"maxDepth": 64}
    assert_oci_error(client.get(f"/v2/{repo}/manifests/deep"), 404, "MANIFEST_UNKNOWN")


# references that cannot exist --------------------------------------------------------------

IMPOSSIBLE = [
    ".INVALID_MANIFEST_NAME",  # the v1.1.1 conformance suite's "nonexistent manifest"
    "-lead",
    "a" * 129,
    "sha256:totallywrong",
    "sha256:" + "A" * 64,
    "md5:" + "0" * 32,
]


@pytest.mark.parametrize("reference", IMPOSSIBLE)
def test_reads_of_an_impossible_reference_are_404(
    client: httpx.Client, repo: str, reference: str
) -> None:
    push_image(client, repo, make_image(layers=1), tag="exists")  # the repository exists
    entry = assert_oci_error(
        client.get(f"/v2/{repo}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN"
    )
    assert entry["detail"] == {"reference": reference}
    assert client.head(f"/v2/{repo}/manifests/{reference}").status_code == 404
    assert_oci_error(client.delete(f"/v2/{repo}/manifests/{reference}"), 404, "MANIFEST_UNKNOWN")


@pytest.mark.parametrize(
    "reference,code", [(".INVALID_MANIFEST_NAME", "TAG_INVALID"), ("sha256:zz", "DIGEST_INVALID")]
)
def test_writes_to_an_impossible_reference_stay_400(
    client: httpx.Client, repo: str, reference: str, code: str
) -> None:
    image = make_image(layers=1)
    push_image(client, repo, image)
    response = client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(response, 400, code)


# ?tag= pushes and sha512 ---------------------------------------------------------------------


def _oci_tags(response: httpx.Response) -> list[str]:
    """Tags named by OCI-Tag headers, which RFC 9110 lets a server send as a list or lines."""
    values = response.headers.get_list("OCI-Tag")
    return [tag.strip() for value in values for tag in value.split(",") if tag.strip()]


def test_tag_parameters_are_confirmed_by_oci_tag(client: httpx.Client, repo: str) -> None:
    image = make_image(layers=1)
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    tags = ["1.2.3", "1.2", "1", "latest"]
    response = client.put(
        f"/v2/{repo}/manifests/{image.digest}",
        params=[("tag", t) for t in tags],
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    assert sorted(_oci_tags(response)) == sorted(tags)
    for tag in tags:
        assert client.head(f"/v2/{repo}/manifests/{tag}").headers["Docker-Content-Digest"] == (
            image.digest
        )


def test_push_without_tag_parameters_sends_no_oci_tag(client: httpx.Client, repo: str) -> None:
    assert "OCI-Tag" not in push_image(client, repo, make_image(layers=1), tag="plain").headers
    assert "OCI-Tag" not in push_image(client, repo, make_image(layers=1)).headers


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def sha512_descriptor(data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha512(data), "size": len(data), **extra}


def push_sha512_blob(client: httpx.Client, repo: str, data: bytes) -> None:
    pushed = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": sha512(data)}, content=data
    )
    assert pushed.status_code == 201, pushed.text


def sha512_image(client: httpx.Client, repo: str) -> bytes:
    """An image whose config and layer are pushed and referenced by sha512 digests."""
    config, layer = json.dumps({"os": "linux", "n": os.urandom(4).hex()}).encode(), os.urandom(64)
    for blob in (config, layer):
        push_sha512_blob(client, repo, blob)
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": sha512_descriptor(config, OCI_CONFIG),
        "layers": [sha512_descriptor(layer, OCI_LAYER)],
    }).encode()  # fmt: skip


def test_sha512_manifest_pushed_with_tag_parameters(client: httpx.Client, repo: str) -> None:
    manifest = sha512_image(client, repo)
    digest = sha512(manifest)
    response = client.put(
        f"/v2/{repo}/manifests/{digest}",
        params={"tag": "v512"},
        content=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Location"].endswith(f"/manifests/{digest}")
    assert _oci_tags(response) == ["v512"]
    for reference in ("v512", digest):
        got = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": OCI_MANIFEST})
        assert got.status_code == 200 and got.content == manifest
        assert got.headers["Docker-Content-Digest"] == digest


def test_sha512_index_of_sha512_manifests(client: httpx.Client, repo: str) -> None:
    children = [sha512_image(client, repo) for _ in range(2)]
    for child in children:
        pushed = client.put(
            f"/v2/{repo}/manifests/{sha512(child)}",
            content=child,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert pushed.headers["Docker-Content-Digest"] == sha512(child)
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [sha512_descriptor(c, OCI_MANIFEST) for c in children],
    }).encode()  # fmt: skip
    response = client.put(
        f"/v2/{repo}/manifests/{sha512(index)}",
        params=[("tag", "multi-0"), ("tag", "multi-1")],
        content=index,
        headers={"Content-Type": OCI_INDEX},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == sha512(index)
    assert sorted(_oci_tags(response)) == ["multi-0", "multi-1"]
    assert client.head(f"/v2/{repo}/manifests/multi-1").headers["Docker-Content-Digest"] == (
        sha512(index)
    )
