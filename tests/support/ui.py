"""A browser-like client for the web UI (cookies kept, forms read from the pages), and the
images the UI tests browse."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx

from support.oci import OCI_INDEX, Image, descriptor, make_image, make_index, push_image

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')
SIGNATURE_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SBOM_TYPE = "application/spdx+json"
IMAGE_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2026-01-02T03:04:05Z",
    "config": {
        "Env": ["PATH=/usr/bin", "GREETING=hello <world>"],
        "Entrypoint": ["/bin/app", "--serve"],
        "Cmd": ["--port=80"],
        "WorkingDir": "/srv",
        "Labels": {"org.opencontainers.image.source": "https://example.test/app"},
    },
    "history": [
        {"created_by": "ADD rootfs.tar /"},
        {"created_by": "ENV GREETING=hello", "empty_layer": True},
        {"created_by": "COPY app /bin/app"},
    ],
}


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, page[:2000]
    return html.unescape(found.group(1))


def same_origin(client: httpx.Client) -> dict[str, str]:
    """The headers a browser sends with a form posted from the UI's own pages."""
    return {"Origin": str(client.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}


def post_form(
    client: httpx.Client, path: str, data: dict[str, str], **headers: str
) -> httpx.Response:
    return client.post(path, data=data, headers={**same_origin(client), **headers})


def sign_in(client: httpx.Client, user: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/ui/signin").text)
    data = {"username": user, "password": password, "csrf": token, "next": "/"}
    return post_form(client, "/ui/signin", data)


def image_with_config(config: dict[str, Any] | None = None) -> Image:
    """An image whose configuration carries env, entrypoint, labels and history."""
    base = make_image(layers=2, size=3000)
    raw = json.dumps(config or IMAGE_CONFIG).encode()
    body = json.loads(base.manifest)
    body["config"] = descriptor(raw, "application/vnd.oci.image.config.v1+json")
    body["annotations"] = {"org.opencontainers.image.title": "demo app"}
    return Image(raw, base.layers, json.dumps(body).encode(), base.media_type)


def push_referrer(client: httpx.Client, repo: str, subject: Image, artifact_type: str) -> Image:
    referrer = make_image(
        layers=1, size=200, artifact_type=artifact_type,
        subject=descriptor(subject.manifest, subject.media_type),
        config_type="application/vnd.oci.empty.v1+json",
    )  # fmt: skip
    push_image(client, repo, referrer)
    return referrer


def push_index(client: httpx.Client, repo: str, tag: str) -> tuple[bytes, list[Image]]:
    images = [make_image(layers=1, size=500), make_image(layers=1, size=700)]
    for image in images:
        push_image(client, repo, image)
    index = make_index(images)
    response = client.put(f"/v2/{repo}/manifests/{tag}", content=index,
                          headers={"Content-Type": OCI_INDEX})  # fmt: skip
    assert response.status_code == 201, response.text
    return index, images
