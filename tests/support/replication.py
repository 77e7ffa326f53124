"""A multi-arch image with a cosign signature tag and an SBOM referrer, pushed and compared.

``push_signed_index`` pushes to any registry over HTTP: two platform images and their index
under a tag, a cosign-style signature under ``sha256-<hex>.sig``, and an SBOM artifact whose
``subject`` is the index (an OCI 1.1 referrer). ``assert_same_tree`` checks that a target
serves every manifest byte for byte and every blob with the same bytes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from support.oci import OCI_INDEX, Image, descriptor, make_image, sha256
from support.registry2 import push_image as push_tagged

SBOM_TYPE = "application/spdx+json"
SIG_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
PLATFORMS = (("linux", "amd64"), ("linux", "arm64"))


@dataclass
class Pushed:
    repository: str
    tag: str
    index: bytes
    images: list[Image]
    signature: Image
    sbom: Image
    manifests: dict[str, bytes] = field(default_factory=dict)  # digest -> bytes
    blobs: dict[str, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256(self.index)

    @property
    def signature_tag(self) -> str:
        return "sha256-" + self.digest.partition(":")[2] + ".sig"


def push_image(client: httpx.Client, repository: str, image: Image, tag: str = "") -> None:
    """Blobs by POST then PUT (every registry takes that), the manifest by tag or digest."""
    push_tagged(client, repository, image, tag or image.digest)


def _index(images: list[Image]) -> bytes:
    entries = [
        descriptor(image.manifest, image.media_type, platform={"os": os_, "architecture": arch})
        for image, (os_, arch) in zip(images, PLATFORMS, strict=True)
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()


def push_signed_index(
    client: httpx.Client, repository: str, tag: str, *, layer_size: int = 2048
) -> Pushed:
    images = [make_image(layers=2, size=layer_size) for _ in PLATFORMS]
    for image in images:
        push_image(client, repository, image)
    index = _index(images)
    put = client.put(f"/v2/{repository}/manifests/{tag}", content=index,
                     headers={"Content-Type": OCI_INDEX})  # fmt: skip
    assert put.status_code == 201, put.text
    subject = descriptor(index, OCI_INDEX)
    signature = make_image(layers=1, size=64, config_type=SIG_TYPE)
    pushed = Pushed(repository, tag, index, images, signature, signature)
    push_image(client, repository, signature, pushed.signature_tag)
    sbom = make_image(layer_data=[os.urandom(300)], artifact_type=SBOM_TYPE, subject=subject,
                      config_type="application/vnd.oci.empty.v1+json")  # fmt: skip
    push_image(client, repository, sbom)
    pushed.sbom = sbom
    for image in [*images, signature, sbom]:
        pushed.manifests[image.digest] = image.manifest
        for blob in [image.config, *image.layers]:
            pushed.blobs[sha256(blob)] = blob
    pushed.manifests[pushed.digest] = index
    return pushed


def assert_same_tree(client: httpx.Client, repository: str, pushed: Pushed) -> None:
    """Every manifest (by digest and by tag) byte for byte, every blob's bytes."""
    accept = {"Accept": ", ".join([OCI_INDEX, "application/vnd.oci.image.manifest.v1+json"])}
    by_tag = client.get(f"/v2/{repository}/manifests/{pushed.tag}", headers=accept)
    assert by_tag.status_code == 200, by_tag.text
    assert by_tag.content == pushed.index
    signed = client.get(f"/v2/{repository}/manifests/{pushed.signature_tag}", headers=accept)
    assert signed.status_code == 200 and signed.content == pushed.signature.manifest
    for digest, body in pushed.manifests.items():
        got = client.get(f"/v2/{repository}/manifests/{digest}", headers=accept)
        assert got.status_code == 200 and got.content == body, (digest, got.status_code)
    for digest, data in pushed.blobs.items():
        got = client.get(f"/v2/{repository}/blobs/{digest}")
        assert got.status_code == 200 and got.content == data, (digest, got.status_code)


def wait_run(api: Any, run_id: int, timeout: float = 120.0) -> dict[str, Any]:
    """Poll ``/replication/runs/{id}`` until the run is over; its detail."""
    deadline = time.monotonic() + timeout
    while True:
        detail: dict[str, Any] = api.ok("GET", f"/replication/runs/{run_id}")
        if detail["run"]["state"] in ("done", "failed", "stopped"):
            return detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.3)
