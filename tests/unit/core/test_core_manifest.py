"""Manifest parsing: format choice, references, subject, artifact type and refusals."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from dockyard.core import mediatypes as mt
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.manifest import ParsedManifest, parse_manifest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SIGNATURE = "application/vnd.example.signature.v1"


def sha(data: str) -> str:
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


def desc(name: str, media_type: str = OCI_LAYER, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha(name), "size": size, **extra}


def image(media_type: str | None = mt.OCI_MANIFEST, **fields: Any) -> dict[str, Any]:
    layer_type = DOCKER_LAYER if media_type == mt.DOCKER_MANIFEST else OCI_LAYER
    config_type = DOCKER_CONFIG if media_type == mt.DOCKER_MANIFEST else OCI_CONFIG
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "config": desc("config", config_type),
        "layers": [desc("l1", layer_type), desc("l2", layer_type, 20)],
    }
    if media_type is not None:
        body["mediaType"] = media_type
    body.update(fields)
    return body


def index(media_type: str | None = mt.OCI_INDEX, **fields: Any) -> dict[str, Any]:
    child_type = mt.DOCKER_MANIFEST if media_type == mt.DOCKER_MANIFEST_LIST else mt.OCI_MANIFEST
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "manifests": [
            desc("amd64", child_type, 500, platform={"architecture": "amd64", "os": "linux"}),
            desc("arm64", child_type, 501, platform={"architecture": "arm64", "os": "linux"}),
        ],
    }
    if media_type is not None:
        body["mediaType"] = media_type
    body.update(fields)
    return body


def parse(body: dict[str, Any] | bytes, content_type: str) -> ParsedManifest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_manifest(raw, content_type)


def refused(body: dict[str, Any] | bytes, content_type: str) -> RegistryError:
    with pytest.raises(RegistryError) as info:
        parse(body, content_type)
    assert info.value.code is ErrorCode.MANIFEST_INVALID
    assert info.value.status == 400
    return info.value


# accepted formats --------------------------------------------------------------------------


def test_oci_image_manifest() -> None:
    parsed = parse(image(), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert [d.digest for d in parsed.blobs] == [sha("config"), sha("l1"), sha("l2")]
    assert [d.size for d in parsed.blobs] == [10, 10, 20]
    assert parsed.children == ()
    assert parsed.subject is None
    assert parsed.artifact_type is None
    assert parsed.config_media_type == OCI_CONFIG
    assert parsed.effective_artifact_type == OCI_CONFIG


def test_oci_index() -> None:
    parsed = parse(index(annotations={"org.opencontainers.image.ref.name": "x"}), mt.OCI_INDEX)
    assert parsed.media_type == mt.OCI_INDEX
    assert [d.digest for d in parsed.children] == [sha("amd64"), sha("arm64")]
    assert parsed.children[0].platform == {"architecture": "amd64", "os": "linux"}
    assert parsed.blobs == ()
    assert parsed.annotations == {"org.opencontainers.image.ref.name": "x"}
    assert parsed.effective_artifact_type is None


def test_docker_schema2_manifest() -> None:
    parsed = parse(image(mt.DOCKER_MANIFEST), mt.DOCKER_MANIFEST)
    assert parsed.media_type == mt.DOCKER_MANIFEST
    assert len(parsed.blobs) == 3
    assert parsed.blobs[0].mediaType == DOCKER_CONFIG
    assert parsed.config_media_type == DOCKER_CONFIG


def test_docker_manifest_list() -> None:
    parsed = parse(index(mt.DOCKER_MANIFEST_LIST), mt.DOCKER_MANIFEST_LIST)
    assert parsed.media_type == mt.DOCKER_MANIFEST_LIST
    assert [d.mediaType for d in parsed.children] == [mt.DOCKER_MANIFEST] * 2


def test_content_type_parameters_and_case_are_ignored() -> None:
    parsed = parse(image(), "Application/VND.oci.image.manifest.v1+json; charset=utf-8")
    assert parsed.media_type == mt.OCI_MANIFEST


def test_unknown_fields_are_ignored() -> None:
    body = image(extra={"x": 1})
    body["config"]["unknownField"] = True
    assert parse(body, mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


def test_empty_layers_allowed() -> None:
    parsed = parse(image(layers=[]), mt.OCI_MANIFEST)
    assert [d.digest for d in parsed.blobs] == [sha("config")]


# artifacts and subject ---------------------------------------------------------------------


def test_artifact_with_artifact_type() -> None:
    body = image(
        artifactType=SIGNATURE,
        config=desc("{}", mt.OCI_EMPTY_CONFIG, 2),
        layers=[desc("sig", "application/octet-stream")],
    )
    parsed = parse(body, mt.OCI_MANIFEST)
    assert parsed.artifact_type == SIGNATURE
    assert parsed.config_media_type == mt.OCI_EMPTY_CONFIG
    assert parsed.effective_artifact_type == SIGNATURE


def test_config_type_artifact_uses_config_media_type() -> None:
    body = image(config=desc("helm", "application/vnd.cncf.helm.config.v1+json"))
    parsed = parse(body, mt.OCI_MANIFEST)
    assert parsed.artifact_type is None
    assert parsed.effective_artifact_type == "application/vnd.cncf.helm.config.v1+json"


def test_subject_recorded() -> None:
    subject = desc("target", mt.OCI_MANIFEST, 1234)
    parsed = parse(image(artifactType=SIGNATURE, subject=subject), mt.OCI_MANIFEST)
    assert parsed.subject is not None
    assert parsed.subject.digest == sha("target")
    assert parsed.subject.mediaType == mt.OCI_MANIFEST
    assert parsed.subject.size == 1234
    assert sha("target") not in [d.digest for d in parsed.blobs], "a subject is not a blob ref"


def test_index_with_artifact_type_and_subject() -> None:
    body = index(artifactType=SIGNATURE, subject=desc("target", mt.OCI_INDEX, 99))
    parsed = parse(body, mt.OCI_INDEX)
    assert parsed.effective_artifact_type == SIGNATURE
    assert parsed.subject is not None and parsed.subject.digest == sha("target")


def test_bad_subject_digest_refused() -> None:
    error = refused(image(subject=desc("t") | {"digest": "sha256:zz"}), mt.OCI_MANIFEST)
    assert "subject" in error.message


# media type selection ----------------------------------------------------------------------


def test_content_type_and_media_type_mismatch() -> None:
    error = refused(image(mt.OCI_MANIFEST), mt.DOCKER_MANIFEST)
    assert "does not match" in error.message


def test_index_body_pushed_as_image_manifest_refused() -> None:
    refused(index(mt.OCI_INDEX), mt.OCI_MANIFEST)


def test_missing_media_type_falls_back_to_content_type() -> None:
    assert parse(image(None), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    assert parse(index(None), mt.OCI_INDEX).media_type == mt.OCI_INDEX
    assert parse(image(None), mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST


def test_missing_media_type_and_content_type_guesses_from_shape() -> None:
    assert parse(image(None), "").media_type == mt.OCI_MANIFEST
    assert parse(index(None), "application/json").media_type == mt.OCI_INDEX


def test_media_type_in_body_used_without_content_type() -> None:
    assert parse(image(mt.DOCKER_MANIFEST), "").media_type == mt.DOCKER_MANIFEST


@pytest.mark.parametrize(
    ("body_type", "content_type"),
    [
        (None, "application/vnd.example.thing+json"),
        ("application/vnd.example.thing+json", "application/vnd.example.thing+json"),
        ("application/vnd.example.thing+json", ""),
        (None, "text/plain"),
    ],
)
def test_unknown_media_type_refused(body_type: str | None, content_type: str) -> None:
    error = refused(image(body_type), content_type)
    assert "unsupported" in error.message


def test_nothing_recognisable_refused() -> None:
    refused({"schemaVersion": 2}, "")


# refusals ----------------------------------------------------------------------------------

SCHEMA1 = {
    "schemaVersion": 1,
    "name": "library/app",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": sha("l1")}],
    "history": [{"v1Compatibility": "{}"}],
}


@pytest.mark.parametrize(
    "content_type", [mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED, "", "application/json"]
)
def test_schema1_refused(content_type: str) -> None:
    error = refused(SCHEMA1, content_type)
    assert "schema 1" in error.message


def test_schema_version_must_be_2() -> None:
    refused(image(schemaVersion=3), mt.OCI_MANIFEST)
    refused(index(schemaVersion=3), mt.OCI_INDEX)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b'{"schemaVersion": 2,}', b"\xff\xfe", b"[]", b"null", b"42", b'"x"'],
)
def test_malformed_json_refused(raw: bytes) -> None:
    refused(raw, mt.OCI_MANIFEST)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"schemaVersion": "2"}, id="schemaVersion-string"),
        pytest.param({"layers": {"a": 1}}, id="layers-object"),
        pytest.param({"layers": [desc("l1") | {"size": "10"}]}, id="size-string"),
        pytest.param({"layers": [desc("l1") | {"size": 1.5}]}, id="size-float"),
        pytest.param({"layers": [{"digest": sha("l1"), "size": 1}]}, id="missing-mediaType"),
        pytest.param({"layers": [desc("l1", "")]}, id="empty-mediaType"),
        pytest.param({"layers": [{"mediaType": OCI_LAYER, "size": 1}]}, id="missing-digest"),
        pytest.param({"layers": [{"mediaType": OCI_LAYER, "digest": sha("x")}]}, id="no-size"),
        pytest.param({"config": None}, id="config-null"),
        pytest.param({"config": "sha256:abc"}, id="config-string"),
        pytest.param({"annotations": {"a": 1}}, id="annotation-int"),
        pytest.param({"annotations": ["a"]}, id="annotations-list"),
        pytest.param({"artifactType": 5}, id="artifactType-int"),
        pytest.param({"mediaType": 5}, id="mediaType-int"),
        pytest.param({"layers": [desc("l1") | {"urls": "http://x"}]}, id="urls-string"),
    ],
)
def test_wrong_field_types_refused(fields: dict[str, Any]) -> None:
    refused(image(**fields), mt.OCI_MANIFEST)


def test_missing_config_refused() -> None:
    body = image()
    del body["config"]
    refused(body, mt.OCI_MANIFEST)


def test_index_wrong_types_refused() -> None:
    refused(index(manifests="x"), mt.OCI_INDEX)
    refused(index(manifests=[desc("a") | {"size": -1}]), mt.OCI_INDEX)
    body = index()
    del body["manifests"]
    refused(body, mt.OCI_INDEX)


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "md5:" + "a" * 32,
        "garbage",
        "",
        "sha256:" + "a" * 64 + "\n",
    ],
)
def test_bad_descriptor_digest_refused(digest: str) -> None:
    error = refused(image(layers=[desc("l1") | {"digest": digest}]), mt.OCI_MANIFEST)
    assert error.message.startswith("layers[0]")


def test_bad_config_digest_names_config() -> None:
    error = refused(image(config=desc("c", OCI_CONFIG) | {"digest": "sha256:1"}), mt.OCI_MANIFEST)
    assert error.message.startswith("config")


def test_negative_size_refused() -> None:
    error = refused(image(layers=[desc("ok"), desc("l1", size=-1)]), mt.OCI_MANIFEST)
    assert error.message.startswith("layers[1]")
    assert "negative" in error.message


def test_zero_size_allowed() -> None:
    parsed = parse(image(layers=[desc("empty", size=0)]), mt.OCI_MANIFEST)
    assert parsed.blobs[1].size == 0


@pytest.mark.parametrize("field", ["annotations-like", "config-platform", "layer", "envelope"])
def test_deeply_nested_json_refused_not_recursion_error(field: str) -> None:
    deep = "DEEP"  # replaced below: the stdlib encoder cannot write 1000 levels either
    if field == "annotations-like":
        body = image(extra=deep)
    elif field == "config-platform":
        body = image(config=desc("config", OCI_CONFIG, platform={"os": deep}))
    elif field == "layer":
        body = image(layers=[desc("l1", extra=deep)])
    else:
        body = index(manifests=[desc("m", mt.OCI_MANIFEST, platform={"x": deep})])
    raw = json.dumps(body).encode().replace(b'"DEEP"', b"[" * 1000 + b"1" + b"]" * 1000)
    error = refused(raw, "")
    assert "deeper than 64 levels" in error.message
    assert error.detail == {"maxDepth": 64}


def test_nesting_at_the_limit_is_accepted() -> None:
    deep: Any = "leaf"
    for _ in range(64 - 3):  # the manifest, "annotations-like" list and one more level
        deep = [deep]
    parse(image(extra=[deep]), mt.OCI_MANIFEST)
