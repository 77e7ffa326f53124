"""Manifests: push/pull by tag and digest, every format, references, tags, deletes."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    make_image,
    make_index,
    push_blob,
    push_image,
    sha256,
)
from support.server import RunningServer


@pytest.mark.parametrize("media_type", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_push_and_pull_image_manifest(client: httpx.Client, repo: str, media_type: str) -> None:
    image = make_image(media_type=media_type)
    pushed = push_image(client, repo, image, tag="v1")
    assert pushed.headers["Docker-Content-Digest"] == image.digest
    assert pushed.headers["Location"].endswith(f"/v2/{repo}/manifests/{image.digest}")
    for reference in ("v1", image.digest):
        got = client.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": media_type})
        assert got.status_code == 200
        assert got.content == image.manifest, "bytes must be served verbatim"
        assert got.headers["Content-Type"] == media_type
        assert got.headers["Docker-Content-Digest"] == image.digest
        head = client.head(f"/v2/{repo}/manifests/{reference}")
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(len(image.manifest))
        assert head.headers["Docker-Content-Digest"] == image.digest


@pytest.mark.parametrize(
    "media_type,child_type", [(OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)]
)
def test_push_index_and_manifest_list(
    client: httpx.Client, repo: str, media_type: str, child_type: str
) -> None:
    images = [make_image(media_type=child_type) for _ in range(2)]
    for image in images:
        push_image(client, repo, image)
    index = make_index(images, media_type)
    response = client.put(
        f"/v2/{repo}/manifests/multi", content=index, headers={"Content-Type": media_type}
    )
    assert response.status_code == 201, response.text
    got = client.get(f"/v2/{repo}/manifests/multi")
    assert got.content == index and got.headers["Content-Type"] == media_type


def test_index_with_missing_child_is_refused(client: httpx.Client, repo: str) -> None:
    images = [make_image(), make_image()]
    push_image(client, repo, images[0])
    index = make_index(images)
    response = client.put(
        f"/v2/{repo}/manifests/idx", content=index, headers={"Content-Type": OCI_INDEX}
    )
    entry = assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert images[1].digest in entry["detail"]["digests"]
    assert client.head(f"/v2/{repo}/manifests/idx").status_code == 404


def test_manifest_with_missing_blob_is_refused(client: httpx.Client, repo: str) -> None:
    image = make_image(layers=2)
    push_blob(client, repo, image.config)
    push_blob(client, repo, image.layers[0])
    response = client.put(
        f"/v2/{repo}/manifests/v1", content=image.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    entry = assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")
    assert entry["detail"]["digests"] == [sha256(image.layers[1])]
    assert client.head(f"/v2/{repo}/manifests/v1").status_code == 404
    assert client.head(f"/v2/{repo}/manifests/{image.digest}").status_code == 404


def test_blob_in_other_repository_does_not_satisfy_manifest(
    client: httpx.Client, repo: str
) -> None:
    image = make_image(layers=1)
    push_image(client, f"{repo}-owner", image)
    response = client.put(
        f"/v2/{repo}/manifests/v1", content=image.manifest, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


def test_push_by_digest_and_mismatch(client: httpx.Client, repo: str) -> None:
    image = make_image()
    push_image(client, repo, image)
    assert client.get(f"/v2/{repo}/manifests/{image.digest}").content == image.manifest
    other = make_image()
    for blob in [other.config, *other.layers]:
        push_blob(client, repo, blob)
    response = client.put(
        f"/v2/{repo}/manifests/{image.digest}",
        content=other.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(response, 400, "DIGEST_INVALID")


def test_several_tags_in_one_put(client: httpx.Client, repo: str) -> None:
    image = make_image()
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    response = client.put(
        f"/v2/{repo}/manifests/{image.digest}",
        params=[("tag", "a"), ("tag", "b"), ("tag", "c")],
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text
    tags = client.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["a", "b", "c"]


def test_tag_moves_to_new_manifest(client: httpx.Client, repo: str) -> None:
    first, second = make_image(), make_image()
    push_image(client, repo, first, tag="latest")
    push_image(client, repo, second, tag="latest")
    got = client.get(f"/v2/{repo}/manifests/latest")
    assert got.headers["Docker-Content-Digest"] == second.digest
    assert client.get(f"/v2/{repo}/manifests/{first.digest}").status_code == 200


def test_artifact_with_custom_types(client: httpx.Client, repo: str) -> None:
    image = make_image(
        artifact_type="application/vnd.example.sbom",
        config_type="application/vnd.oci.empty.v1+json",
    )
    push_image(client, repo, image, tag="sbom")
    assert client.get(f"/v2/{repo}/manifests/sbom").content == image.manifest
    custom = make_image(config_type="application/vnd.example.thing.config.v1+json")
    push_image(client, repo, custom, tag="thing")
    assert client.get(f"/v2/{repo}/manifests/thing").content == custom.manifest


def test_foreign_layers_need_not_be_pushed(client: httpx.Client, repo: str) -> None:
    config = b'{"os":"windows"}'
    push_blob(client, repo, config)
    foreign = {
        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "digest": sha256(b"foreign layer"),
        "size": 13,
        "urls": ["https://example.invalid/layer"],
    }
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptor(config, "application/vnd.docker.container.image.v1+json"),
            "layers": [foreign],
        }
    ).encode()
    response = client.put(
        f"/v2/{repo}/manifests/win", content=manifest, headers={"Content-Type": DOCKER_MANIFEST}
    )
    assert response.status_code == 201, response.text


def test_schema1_is_refused_clearly(client: httpx.Client, repo: str) -> None:
    body = json.dumps(
        {"schemaVersion": 1, "name": repo, "tag": "old", "fsLayers": [], "history": []}
    ).encode()
    for content_type in (
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ):
        response = client.put(
            f"/v2/{repo}/manifests/old", content=body, headers={"Content-Type": content_type}
        )
        entry = assert_oci_error(response, 400, "MANIFEST_INVALID")
        assert "schema 1" in entry["message"]


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"{not json", OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (
            b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}',
            OCI_MANIFEST,
        ),
        (b'{"schemaVersion": "2", "config": {}, "layers": []}', OCI_MANIFEST),
        (
            b'{"schemaVersion": 2, "config": {"mediaType": "x", "digest": "sha256:zz", "size": 1}}',
            OCI_MANIFEST,
        ),
        (b'{"schemaVersion": 2, "manifests": []}', "application/vnd.example.unknown+json"),
        (b'{"schemaVersion": 3, "manifests": []}', OCI_INDEX),
        (
            b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",'
            b' "manifests": []}',
            OCI_MANIFEST,
        ),
    ],
)
def test_invalid_manifests(client: httpx.Client, repo: str, body: bytes, content_type: str) -> None:
    response = client.put(
        f"/v2/{repo}/manifests/bad", content=body, headers={"Content-Type": content_type}
    )
    assert_oci_error(response, 400, "MANIFEST_INVALID")
    assert client.head(f"/v2/{repo}/manifests/bad").status_code == 404


def test_manifest_over_4_mib_is_413(client: httpx.Client, repo: str) -> None:
    body = b'{"schemaVersion": 2, "padding": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    response = client.put(
        f"/v2/{repo}/manifests/big", content=body, headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 413, "MANIFEST_INVALID")


def test_manifest_over_4_mib_streamed_without_length_is_413(
    client: httpx.Client, repo: str
) -> None:
    def body():  # type: ignore[no-untyped-def]
        for _ in range(80):
            yield b"x" * 65536

    response = client.put(
        f"/v2/{repo}/manifests/big", content=body(), headers={"Content-Type": OCI_MANIFEST}
    )
    assert_oci_error(response, 413, "MANIFEST_INVALID")


def test_invalid_tags(client: httpx.Client, repo: str) -> None:
    image = make_image()
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    for tag in ("-lead", ".dot", "a" * 129, "sp%20ace", "t@g"):
        response = client.put(
            f"/v2/{repo}/manifests/{tag}",
            content=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert_oci_error(response, 400, "TAG_INVALID")
    extra = client.put(
        f"/v2/{repo}/manifests/{image.digest}",
        params={"tag": "-bad"},
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(extra, 400, "TAG_INVALID")
    # reads of a reference that cannot exist are 404 (test_api_manifest_conformance.py)
    assert_oci_error(client.get(f"/v2/{repo}/manifests/-lead"), 404, "MANIFEST_UNKNOWN")


def test_unknown_manifest(client: httpx.Client, repo: str) -> None:
    assert_oci_error(client.get(f"/v2/{repo}/manifests/nope"), 404, "MANIFEST_UNKNOWN")
    assert client.head(f"/v2/{repo}/manifests/{sha256(b'x')}").status_code == 404


def test_delete_manifest_by_digest_removes_tags(client: httpx.Client, repo: str) -> None:
    image = make_image()
    push_image(client, repo, image, tag="gone")
    assert client.delete(f"/v2/{repo}/manifests/{image.digest}").status_code == 202
    assert_oci_error(client.get(f"/v2/{repo}/manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(client.get(f"/v2/{repo}/manifests/gone"), 404, "MANIFEST_UNKNOWN")
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    assert_oci_error(client.delete(f"/v2/{repo}/manifests/{image.digest}"), 404, "MANIFEST_UNKNOWN")


def test_delete_tag_untags_only(client: httpx.Client, repo: str) -> None:
    image = make_image()
    push_image(client, repo, image, tag="one")
    push_image(client, repo, image, tag="two")
    assert client.delete(f"/v2/{repo}/manifests/one").status_code == 202
    assert client.get(f"/v2/{repo}/manifests/one").status_code == 404
    assert client.get(f"/v2/{repo}/manifests/two").status_code == 200
    assert client.get(f"/v2/{repo}/manifests/{image.digest}").status_code == 200
    assert_oci_error(client.delete(f"/v2/{repo}/manifests/one"), 404, "MANIFEST_UNKNOWN")


def test_manifest_served_through_blob_endpoint(client: httpx.Client, repo: str) -> None:
    image = make_image()
    push_image(client, repo, image)
    got = client.get(f"/v2/{repo}/blobs/{image.digest}")
    assert got.status_code == 200 and got.content == image.manifest


def _access_line(registry: RunningServer, request_id: str) -> dict[str, object]:
    """The access-log line of the request with ``request_id`` (lines are written in batches
    of at most 5 ms: wait for it a little)."""
    for _ in range(200):
        for line in registry.log().splitlines():
            if f'"request_id":"{request_id}"' in line and '"logger":"dockyard.access"' in line:
                entry: dict[str, object] = json.loads(line)
                return entry
        time.sleep(0.01)
    raise AssertionError(f"no access-log line for {request_id}")


def test_get_and_head_answer_every_header_and_head_no_body(
    registry: RunningServer, client: httpx.Client, repo: str
) -> None:
    """The manifest GET/HEAD path builds its headers itself: all of them, the same for GET
    and HEAD, the body only for GET, and the access log sees status and bytes."""
    image = make_image()
    push_image(client, repo, image, tag="v1")
    for by, reference in (("tag", "v1"), ("digest", image.digest)):
        url = f"/v2/{repo}/manifests/{reference}"
        get_id, head_id = (f"{method}-{by}-{repo.replace('/', '.')}" for method in ("get", "head"))
        got = client.get(url, headers={"X-Request-Id": get_id})
        head = client.head(url, headers={"X-Request-Id": head_id})
        assert got.status_code == head.status_code == 200
        assert got.content == image.manifest and head.content == b""
        for response in (got, head):
            assert response.headers["Content-Type"] == OCI_MANIFEST
            assert response.headers["Docker-Content-Digest"] == image.digest
            assert response.headers["ETag"] == f'"{image.digest}"'
            assert response.headers["Content-Length"] == str(len(image.manifest))
            assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
        assert got.headers["X-Request-Id"] == get_id
        logged_get, logged_head = _access_line(registry, get_id), _access_line(registry, head_id)
        assert (logged_get["status"], logged_get["bytes_out"]) == (200, len(image.manifest))
        assert (logged_head["status"], logged_head["bytes_out"]) == (200, 0)
        assert logged_get["route"] == "manifest" and logged_get["repository"] == repo


def test_a_moved_tag_is_served_at_once(client: httpx.Client, repo: str) -> None:
    first, second = make_image(), make_image()
    push_image(client, repo, first, tag="moving")
    assert client.get(f"/v2/{repo}/manifests/moving").content == first.manifest
    push_image(client, repo, second, tag="moving")
    got = client.get(f"/v2/{repo}/manifests/moving")
    assert got.content == second.manifest
    assert got.headers["Docker-Content-Digest"] == second.digest
    deleted = client.delete(f"/v2/{repo}/manifests/{second.digest}")
    assert deleted.status_code == 202
    assert client.get(f"/v2/{repo}/manifests/{second.digest}").status_code == 404
    assert client.head(f"/v2/{repo}/manifests/moving").status_code == 404
