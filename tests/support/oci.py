"""Build blobs, manifests and indexes, and push them over plain HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclass
class Image:
    config: bytes
    layers: list[bytes]
    manifest: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def make_image(
    layers: int = 2,
    size: int = 1024,
    *,
    media_type: str = OCI_MANIFEST,
    subject: dict[str, Any] | None = None,
    artifact_type: str | None = None,
    config_type: str = OCI_CONFIG,
    annotations: dict[str, str] | None = None,
    layer_data: list[bytes] | None = None,
) -> Image:
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "nonce": os.urandom(8).hex()}
    ).encode()
    blobs = layer_data if layer_data is not None else [os.urandom(size) for _ in range(layers)]
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config, config_type),
        "layers": [descriptor(b, OCI_LAYER) for b in blobs],
    }
    if subject is not None:
        body["subject"] = subject
    if artifact_type is not None:
        body["artifactType"] = artifact_type
    if annotations:
        body["annotations"] = annotations
    return Image(config, blobs, json.dumps(body, indent=2).encode(), media_type)


def make_index(images: list[Image], media_type: str = OCI_INDEX) -> bytes:
    entries = [
        descriptor(i.manifest, i.media_type, platform={"architecture": f"arch{n}", "os": "linux"})
        for n, i in enumerate(images)
    ]
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()


def push_blob(client: httpx.Client, repo: str, data: bytes) -> httpx.Response:
    response = client.post(
        f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data
    )
    assert response.status_code == 201, response.text
    return response


def push_image(
    client: httpx.Client, repo: str, image: Image, tag: str | None = None
) -> httpx.Response:
    for blob in [image.config, *image.layers]:
        push_blob(client, repo, blob)
    reference = tag or image.digest
    response = client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=image.manifest,
        headers={"Content-Type": image.media_type},
    )
    assert response.status_code == 201, response.text
    return response


def assert_oci_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["errors"], list) and body["errors"], body
    entry: dict[str, Any] = body["errors"][0]
    assert entry["code"] == code, body
    assert isinstance(entry["message"], str) and entry["message"]
    assert "detail" in entry
    return entry
