"""The reference registry (Debian's ``docker-registry``, CNCF Distribution 2.8) on loopback.

Tests of ``dockyard import`` let it write a storage root, then adopt that root.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.oci import DOCKER_MANIFEST, OCI_INDEX, Image, make_image, make_index, sha256
from support.server import free_port, wait_for_http

REFERENCE = "docker-registry"


@contextmanager
def reference_registry(root: Path, workdir: Path) -> Iterator[str]:
    """registry:2 serving ``root`` (deletes enabled); yields its base URL."""
    binary = shutil.which(REFERENCE)
    assert binary, "docker-registry is missing: apt-get install docker-registry"
    port = free_port()
    config = workdir / "reference.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/v2/")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def push_blob(client: httpx.Client, repo: str, data: bytes) -> None:
    location = client.post(f"/v2/{repo}/blobs/uploads/").headers["Location"]
    url = httpx.URL(location).copy_merge_params({"digest": sha256(data)})
    response = client.put(url, content=data)
    assert response.status_code == 201, response.text


def push_manifest(client: httpx.Client, repo: str, ref: str, body: bytes, media_type: str) -> None:
    response = client.put(
        f"/v2/{repo}/manifests/{ref}", content=body, headers={"Content-Type": media_type}
    )
    assert response.status_code == 201, response.text


def push_image(client: httpx.Client, repo: str, image: Image, tag: str) -> None:
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    push_manifest(client, repo, tag, image.manifest, image.media_type)


@dataclass
class ReferenceRoot:
    """What :func:`write_reference_root` pushed: tagged images, an index, an image whose tag
    moved away (still there by digest) and a deleted one (its layers stay linked)."""

    tagged: list[tuple[str, str, Image]]
    index: tuple[str, str, bytes, list[Image]]
    untagged: tuple[str, Image]
    deleted: tuple[str, Image]

    def blobs(self) -> dict[str, bytes]:
        """Every blob linked into a repository, by digest (shared ones once)."""
        images = [image for _, _, image in self.tagged] + self.index[3]
        images += [self.untagged[1], self.deleted[1]]
        return {sha256(b): b for image in images for b in [image.config, *image.layers]}


def write_reference_root(root: Path, workdir: Path) -> ReferenceRoot:
    """Several repositories, a layer shared by two of them, a 3 MiB layer, a Docker schema 2
    manifest, a moved tag, a deleted manifest and a multi-arch index."""
    shared = make_image(layers=2, size=3 * 1024 * 1024)
    reuse = make_image(layer_data=[shared.layers[0], b"own layer"])
    docker = make_image(layers=1, media_type=DOCKER_MANIFEST)
    moved_from, moved_to = make_image(layers=1), make_image(layers=1)
    deleted = make_image(layers=1)
    children = [make_image(layers=1), make_image(layers=1)]
    index = make_index(children)
    with (
        reference_registry(root, workdir) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        push_image(client, "library/simple", shared, "v1")
        push_image(client, "library/simple", docker, "docker")
        push_image(client, "team/app", reuse, "reuse")
        push_image(client, "team/app", moved_from, "latest")
        push_image(client, "team/app", moved_to, "latest")
        push_image(client, "team/app", deleted, "gone")
        assert client.delete(f"/v2/team/app/manifests/{deleted.digest}").status_code == 202
        for child in children:
            push_image(client, "deep/nested/repo", child, f"arch-{child.digest[7:13]}")
        push_manifest(client, "deep/nested/repo", "multi", index, OCI_INDEX)
    tagged = [
        ("library/simple", "v1", shared),
        ("library/simple", "docker", docker),
        ("team/app", "reuse", reuse),
        ("team/app", "latest", moved_to),
    ]
    index_entry = ("deep/nested/repo", "multi", index, children)
    return ReferenceRoot(tagged, index_entry, ("team/app", moved_from), ("team/app", deleted))


def assert_pulls_byte_identical(client: httpx.Client, pushed: ReferenceRoot) -> None:
    """Every tagged image, the index and its children pull exactly as pushed; the deleted
    manifest does not."""
    repo, tag, index, children = pushed.index
    images = [*pushed.tagged, *[(repo, f"arch-{c.digest[7:13]}", c) for c in children]]
    for name, ref, image in images:
        got = client.get(f"/v2/{name}/manifests/{ref}")
        assert got.status_code == 200, (name, ref, got.text)
        assert got.content == image.manifest and got.headers["Content-Type"] == image.media_type
        for blob in [image.config, *image.layers]:
            pulled = client.get(f"/v2/{name}/blobs/{sha256(blob)}")
            assert pulled.status_code == 200 and pulled.content == blob, (name, sha256(blob))
    assert client.get(f"/v2/{repo}/manifests/{tag}").content == index
    untagged_repo, untagged = pushed.untagged
    assert client.get(f"/v2/{untagged_repo}/manifests/{untagged.digest}").status_code == 200
    gone_repo, gone = pushed.deleted
    assert client.get(f"/v2/{gone_repo}/manifests/{gone.digest}").status_code == 404
