"""Push signatures to a registry as the signing tools store them: cosign's tag scheme
(``sha256-<hex>.sig``, one simple signing layer per signature) and OCI 1.1 referrers (a
Sigstore bundle, a Notation envelope)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from cryptography import x509

from support.oci import OCI_CONFIG, OCI_MANIFEST, descriptor, push_blob, sha256
from support.signing import (
    BUNDLE,
    NOTATION,
    PrivateKey,
    cosign_layer_annotations,
    simple_signing_payload,
)

EMPTY = b"{}"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"


def signature_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def put_manifest(client: httpx.Client, repo: str, reference: str, body: bytes) -> httpx.Response:
    return client.put(
        f"/v2/{repo}/manifests/{reference}",
        content=body,
        headers={"Content-Type": OCI_MANIFEST},
    )


def push_cosign_signature(
    client: httpx.Client,
    repo: str,
    digest: str,
    key: PrivateKey,
    *,
    certificate: x509.Certificate | None = None,
    docker_reference: str = "registry.test/app",
    payload: bytes | None = None,
) -> str:
    """Sign ``digest`` as cosign does (the payload signed unless one is given) and store it
    under the signature tag; the signature manifest's digest."""
    signed = simple_signing_payload(digest, docker_reference)
    annotations = cosign_layer_annotations(key, signed, certificate)
    stored = payload if payload is not None else signed
    config = json.dumps({"architecture": "", "os": "", "config": {}, "rootfs": {
        "type": "layers", "diff_ids": [sha256(stored)]}}).encode()  # fmt: skip
    for blob in (config, stored):
        push_blob(client, repo, blob)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config, OCI_CONFIG),
        "layers": [descriptor(stored, "application/vnd.dev.cosign.simplesigning.v1+json",
                              annotations=annotations)],
    }).encode()  # fmt: skip
    response = put_manifest(client, repo, signature_tag(digest), manifest)
    assert response.status_code == 201, response.text
    return sha256(manifest)


def push_referrer(
    client: httpx.Client,
    repo: str,
    subject: dict[str, Any],
    *,
    artifact_type: str,
    layer_type: str,
    document: bytes,
) -> str:
    """An OCI 1.1 artifact whose subject is ``subject`` (a descriptor); its digest."""
    for blob in (EMPTY, document):
        push_blob(client, repo, blob)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(EMPTY, EMPTY_TYPE),
        "layers": [descriptor(document, layer_type)],
        "subject": subject,
    }).encode()  # fmt: skip
    digest = sha256(manifest)
    response = put_manifest(client, repo, digest, manifest)
    assert response.status_code == 201, response.text
    return digest


def push_bundle(client: httpx.Client, repo: str, subject: dict[str, Any], bundle: bytes) -> str:
    return push_referrer(
        client, repo, subject, artifact_type=BUNDLE, layer_type=BUNDLE, document=bundle
    )


def push_notation(client: httpx.Client, repo: str, subject: dict[str, Any], jws: bytes) -> str:
    return push_referrer(
        client,
        repo,
        subject,
        artifact_type=NOTATION,
        layer_type="application/jose+json",
        document=jws,
    )
