"""The referrers API and subject handling."""

from __future__ import annotations

import httpx

from support.oci import (
    OCI_INDEX,
    assert_oci_error,
    descriptor,
    make_image,
    make_index,
    push_image,
    sha256,
)


def test_referrers_listing_and_filter(client: httpx.Client, repo: str) -> None:
    subject_image = make_image()
    push_image(client, repo, subject_image, tag="app")
    subject = descriptor(subject_image.manifest, subject_image.media_type)
    sbom = make_image(
        layers=1,
        subject=subject,
        artifact_type="application/vnd.example.sbom",
        config_type="application/vnd.oci.empty.v1+json",
        annotations={"org.example.kind": "sbom"},
    )
    signature = make_image(
        layers=1, subject=subject, config_type="application/vnd.example.sig.config"
    )
    for artifact in (sbom, signature):
        response = push_image(client, repo, artifact)
        assert response.headers["OCI-Subject"] == subject_image.digest

    listing = client.get(f"/v2/{repo}/referrers/{subject_image.digest}")
    assert listing.status_code == 200
    assert listing.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in listing.headers
    index = listing.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {sbom.digest, signature.digest}
    assert by_digest[sbom.digest]["artifactType"] == "application/vnd.example.sbom"
    assert by_digest[sbom.digest]["annotations"] == {"org.example.kind": "sbom"}
    assert by_digest[sbom.digest]["size"] == len(sbom.manifest)
    assert by_digest[signature.digest]["artifactType"] == "application/vnd.example.sig.config"

    filtered = client.get(
        f"/v2/{repo}/referrers/{subject_image.digest}",
        params={"artifactType": "application/vnd.example.sbom"},
    )
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in filtered.json()["manifests"]] == [sbom.digest]


def test_referrer_pushed_before_its_subject(client: httpx.Client, repo: str) -> None:
    missing_subject = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(b"later"),
        "size": 5,
    }
    artifact = make_image(
        layers=1, subject=missing_subject, artifact_type="application/vnd.example.early"
    )
    response = push_image(client, repo, artifact)
    assert response.headers["OCI-Subject"] == sha256(b"later")
    listing = client.get(f"/v2/{repo}/referrers/{sha256(b'later')}").json()
    assert [m["digest"] for m in listing["manifests"]] == [artifact.digest]


def test_referrers_of_unknown_subject_is_empty_index(client: httpx.Client, repo: str) -> None:
    response = client.get(f"/v2/{repo}/referrers/{sha256(b'nothing')}")
    assert response.status_code == 200
    assert response.json()["manifests"] == []


def test_referrers_bad_digest(client: httpx.Client, repo: str) -> None:
    assert_oci_error(client.get(f"/v2/{repo}/referrers/sha256:nothex"), 400, "DIGEST_INVALID")


def test_deleted_referrer_disappears(client: httpx.Client, repo: str) -> None:
    base = make_image()
    push_image(client, repo, base)
    artifact = make_image(
        layers=1, subject=descriptor(base.manifest, base.media_type), artifact_type="a/b"
    )
    push_image(client, repo, artifact)
    assert client.delete(f"/v2/{repo}/manifests/{artifact.digest}").status_code == 202
    assert client.get(f"/v2/{repo}/referrers/{base.digest}").json()["manifests"] == []


def test_tag_schema_fallback_for_older_clients(client: httpx.Client, repo: str) -> None:
    base = make_image()
    push_image(client, repo, base)
    artifact = make_image(
        layers=1, subject=descriptor(base.manifest, base.media_type), artifact_type="a/sig"
    )
    push_image(client, repo, artifact)
    fallback_tag = base.digest.replace(":", "-")
    index = make_index([artifact])
    response = client.put(
        f"/v2/{repo}/manifests/{fallback_tag}", content=index, headers={"Content-Type": OCI_INDEX}
    )
    assert response.status_code == 201, response.text
    fetched = client.get(f"/v2/{repo}/manifests/{fallback_tag}")
    assert fetched.content == index
    assert fallback_tag in client.get(f"/v2/{repo}/tags/list").json()["tags"]
