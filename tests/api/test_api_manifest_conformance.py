"""Manifests against bad input and the OCI conformance suite's expectations: nesting limits,
references that cannot exist, ``?tag=`` pushes (``OCI-Tag``), sha512 manifests, descriptor sizes
and sparse indexes."""

from __future__ import annotations

import json

import httpx
import pytest

from support.oci import (
    OCI_INDEX,
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
