"""What a manifest says about its references, against what the registry holds: descriptor
sizes must match the stored blob or child manifest, and (``validation.manifests.indexes``)
which children of an index may be absent (sparse indexes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.oci import (
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_oci_error,
    descriptor,
    make_image,
    make_index,
    push_blob,
    push_image,
)
from support.server import RunningServer, serving


def put(client: httpx.Client, repo: str, ref: str, body: Any, media_type: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.put(
        f"/v2/{repo}/manifests/{ref}", content=raw, headers={"Content-Type": media_type}
    )


def pushed_blobs_image(client: httpx.Client, repo: str, layers: int = 2) -> dict[str, Any]:
    """A manifest (as a dict, to be edited) whose blobs are all pushed."""
    image = make_image(layers=layers)
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    body: dict[str, Any] = json.loads(image.manifest)
    return body


# descriptor sizes ----------------------------------------------------------------------------


@pytest.mark.parametrize("where,delta", [("layers[1]", 1), ("layers[0]", -1), ("config", 5)])
def test_blob_descriptor_with_wrong_size_is_refused(
    client: httpx.Client, repo: str, where: str, delta: int
) -> None:
    body = pushed_blobs_image(client, repo)
    target = body["config"] if where == "config" else body["layers"][int(where[-2])]
    stored = target["size"]
    target["size"] = stored + delta
    entry = assert_oci_error(
        put(client, repo, "bad-size", body, OCI_MANIFEST), 400, "MANIFEST_INVALID"
    )
    assert where in entry["message"]
    assert entry["detail"] == {
        "descriptors": [
            {
                "descriptor": where,
                "digest": target["digest"],
                "size": stored + delta,
                "stored": stored,
            }
        ]
    }
    assert client.head(f"/v2/{repo}/manifests/bad-size").status_code == 404
    target["size"] = stored
    assert put(client, repo, "bad-size", body, OCI_MANIFEST).status_code == 201


def test_one_digest_with_two_sizes_is_refused(client: httpx.Client, repo: str) -> None:
    body = pushed_blobs_image(client, repo, layers=1)
    body["layers"].append(dict(body["layers"][0], size=body["layers"][0]["size"] + 1))
    entry = assert_oci_error(
        put(client, repo, "twice", body, OCI_MANIFEST), 400, "MANIFEST_INVALID"
    )
    assert entry["detail"]["descriptor"] == "layers[1]"


def test_child_manifest_with_wrong_size_is_refused(client: httpx.Client, repo: str) -> None:
    images = [make_image(layers=1) for _ in range(2)]
    for image in images:
        push_image(client, repo, image)
    index = json.loads(make_index(images))
    index["manifests"][1]["size"] += 10
    entry = assert_oci_error(put(client, repo, "idx", index, OCI_INDEX), 400, "MANIFEST_INVALID")
    [wrong] = entry["detail"]["descriptors"]
    assert wrong == {
        "descriptor": "manifests[1]",
        "digest": images[1].digest,
        "size": len(images[1].manifest) + 10,
        "stored": len(images[1].manifest),
    }
    assert client.head(f"/v2/{repo}/manifests/idx").status_code == 404


def test_foreign_layer_size_is_not_checked(client: httpx.Client, repo: str) -> None:
    body = pushed_blobs_image(client, repo, layers=1)
    foreign = descriptor(
        b"not here", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    )
    body["layers"].append(dict(foreign, size=123456, urls=["https://example.invalid/layer"]))
    assert put(client, repo, "foreign", body, OCI_MANIFEST).status_code == 201


def test_missing_blob_is_still_blob_unknown(client: httpx.Client, repo: str) -> None:
    body = pushed_blobs_image(client, repo, layers=1)
    body["layers"].append(descriptor(b"never pushed", OCI_LAYER))
    assert_oci_error(put(client, repo, "missing", body, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN")


# sparse indexes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server that accepts indexes whose children are absent (platforms: none)."""
    env = {"REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS": "none"}
    with serving(tmp_path_factory.mktemp("sparse"), env=env) as running, running.client() as http:
        yield http


LIST_CONFIG = """
version: 0.1
storage:
  filesystem:
    rootdirectory: {root}
validation:
  manifests:
    indexes:
      platforms: List
      platformlist:
        - os: linux
          architecture: arch0
"""


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that requires only linux/arch0 children (platforms: list)."""
    workdir: Path = tmp_path_factory.mktemp("listed")
    config = LIST_CONFIG.format(root=workdir / "data")
    with serving(workdir, config=config) as running:
        yield running


def test_index_with_absent_children_is_refused_by_default(client: httpx.Client, repo: str) -> None:
    images = [make_image(layers=1) for _ in range(2)]
    push_image(client, repo, images[0])
    entry = assert_oci_error(put(client, repo, "idx", make_index(images), OCI_INDEX), 400,
                             "MANIFEST_BLOB_UNKNOWN")  # fmt: skip
    assert entry["detail"]["digests"] == [images[1].digest]


def test_sparse_index_is_accepted_when_allowed(sparse: httpx.Client) -> None:
    repo = "sparse/accepted"
    images = [make_image(layers=1) for _ in range(3)]
    push_image(sparse, repo, images[0])
    index = make_index(images)
    response = put(sparse, repo, "multi", index, OCI_INDEX)
    assert response.status_code == 201, response.text
    got = sparse.get(f"/v2/{repo}/manifests/multi", headers={"Accept": OCI_INDEX})
    assert got.status_code == 200 and got.content == index
    push_image(sparse, repo, images[1])  # a child pushed later is an ordinary manifest
    assert sparse.get(f"/v2/{repo}/manifests/{images[1].digest}").status_code == 200


def test_sparse_index_still_checks_present_children_and_blobs(sparse: httpx.Client) -> None:
    repo = "sparse/checked"
    images = [make_image(layers=1) for _ in range(2)]
    push_image(sparse, repo, images[0])
    index = json.loads(make_index(images))
    index["manifests"][0]["size"] -= 1
    assert_oci_error(put(sparse, repo, "bad", index, OCI_INDEX), 400, "MANIFEST_INVALID")
    image = make_image(layers=1)  # image manifests are not sparse: their blobs must be there
    assert_oci_error(put(sparse, repo, "img", image.manifest, OCI_MANIFEST), 400,
                     "MANIFEST_BLOB_UNKNOWN")  # fmt: skip


def test_platform_list_requires_only_listed_children(listed: RunningServer) -> None:
    repo = "listed/app"
    images = [make_image(layers=1) for _ in range(2)]  # make_index: arch0, arch1 (linux)
    with listed.client() as http:
        entry = assert_oci_error(put(http, repo, "idx", make_index(images), OCI_INDEX), 400,
                                 "MANIFEST_BLOB_UNKNOWN")  # fmt: skip
        assert entry["detail"]["digests"] == [images[0].digest]  # arch1 may be absent
        push_image(http, repo, images[0])
        assert put(http, repo, "idx", make_index(images), OCI_INDEX).status_code == 201
