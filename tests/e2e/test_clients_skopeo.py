"""skopeo against a plain-HTTP dockyard: copy in and out, multi-arch, inspect, tags, delete."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from e2e.clientkit import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    Clients,
    LayoutImage,
    OciLayout,
    access_log,
    host_of,
    layer_files,
    make_image,
    read_layout,
    sha256,
)
from support.server import RunningServer

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
NO_TLS_SRC, NO_TLS_DEST = "--src-tls-verify=false", "--dest-tls-verify=false"


@pytest.fixture(scope="module")
def image() -> LayoutImage:
    """Two layers; the second is 3 MiB of random bytes so uploads really stream."""
    return make_image(
        [{"etc/motd": b"hello from dockyard\n"}, {"data/blob.bin": os.urandom(3 * 1024 * 1024)}]
    )


@pytest.fixture(scope="module")
def pushed(
    clients: Clients,
    plain_registry: RunningServer,
    image: LayoutImage,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """``skopeo copy oci:... docker://...`` once per module; returns the registry reference."""
    layout = OciLayout(tmp_path_factory.mktemp("src-layout"))
    layout.add_image(image, "v1")
    ref = f"{host_of(plain_registry)}/e2e/skopeo:v1"
    clients.skopeo("copy", NO_TLS_DEST, f"oci:{layout.path}:v1", f"docker://{ref}")
    return ref


def test_copy_in_stores_exact_manifest_and_blobs(
    pushed: str, plain_registry: RunningServer, image: LayoutImage
) -> None:
    with plain_registry.client() as http:
        response = http.get(
            "/v2/e2e/skopeo/manifests/v1", headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}
        )
        assert response.status_code == 200, response.text
        assert response.content == image.manifest
        assert response.headers["docker-content-digest"] == image.digest
        assert response.headers["content-type"] == OCI_MANIFEST
        for blob in image.blobs:
            got = http.get(f"/v2/e2e/skopeo/blobs/{sha256(blob)}")
            assert got.status_code == 200
            assert got.content == blob


def test_round_trip_to_oci_layout_is_byte_identical(
    clients: Clients, pushed: str, image: LayoutImage, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    clients.skopeo("copy", NO_TLS_SRC, f"docker://{pushed}", f"oci:{out}:v1")
    manifest, blobs = read_layout(out, "v1")
    assert manifest == image.manifest
    assert sha256(manifest) == image.digest
    for blob in image.blobs:
        assert blobs[sha256(blob)] == blob
    assert layer_files(image.layers[0]) == {"etc/motd": b"hello from dockyard\n"}


def test_round_trip_to_dir_is_byte_identical(
    clients: Clients, pushed: str, image: LayoutImage, tmp_path: Path
) -> None:
    out = tmp_path / "dir"
    clients.skopeo("copy", NO_TLS_SRC, f"docker://{pushed}", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == image.manifest
    for blob in image.blobs:
        assert (out / sha256(blob).removeprefix("sha256:")).read_bytes() == blob


def test_inspect_raw_manifest_config_and_summary(
    clients: Clients, pushed: str, image: LayoutImage
) -> None:
    raw = clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{pushed}").stdout
    assert raw.encode() == image.manifest
    config = clients.skopeo("inspect", NO_TLS, "--config", "--raw", f"docker://{pushed}").stdout
    assert config.encode() == image.config
    summary = json.loads(clients.skopeo("inspect", NO_TLS, f"docker://{pushed}").stdout)
    assert summary["Digest"] == image.digest
    assert summary["Architecture"] == "amd64"
    assert summary["Os"] == "linux"
    assert summary["Layers"] == [sha256(layer) for layer in image.layers]
    assert summary["Labels"] == {"built-by": "dockyard-e2e"}
    assert "v1" in summary["RepoTags"]


def test_list_tags(
    clients: Clients, plain_registry: RunningServer, image: LayoutImage, tmp_path: Path
) -> None:
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(image, "src")
    repo = f"{host_of(plain_registry)}/e2e/tags"
    tags = ["1.0", "1.1", "latest", "z_last"]
    for tag in tags:
        clients.skopeo("copy", NO_TLS_DEST, f"oci:{layout.path}:src", f"docker://{repo}:{tag}")
    listed = json.loads(clients.skopeo("list-tags", NO_TLS, f"docker://{repo}").stdout)
    assert listed["Repository"] == repo
    assert sorted(listed["Tags"]) == tags


def test_registry_to_registry_copy_mounts_blobs(
    clients: Clients, pushed: str, plain_registry: RunningServer, image: LayoutImage
) -> None:
    target = f"{host_of(plain_registry)}/e2e/copied:v1"
    clients.skopeo("copy", NO_TLS_SRC, NO_TLS_DEST, f"docker://{pushed}", f"docker://{target}")
    raw = clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{target}").stdout
    assert raw.encode() == image.manifest
    with plain_registry.client() as http:
        for blob in image.blobs:
            assert http.head(f"/v2/e2e/copied/blobs/{sha256(blob)}").status_code == 200
    # skopeo mounts the layers from e2e/skopeo: POST ...?mount=&from= answered 201, no PATCH.
    copied = [r for r in access_log(plain_registry) if r.get("repository") == "e2e/copied"]
    mounts = [r for r in copied if r.get("route") == "upload_start" and r.get("status") == 201]
    assert len(mounts) >= len(image.layers), copied


def test_convert_to_docker_v2s2(
    clients: Clients, pushed: str, plain_registry: RunningServer, image: LayoutImage
) -> None:
    target = f"{host_of(plain_registry)}/e2e/docker-format:v1"
    clients.skopeo(
        "copy",
        NO_TLS_SRC,
        NO_TLS_DEST,
        "--format",
        "v2s2",
        f"docker://{pushed}",
        f"docker://{target}",
    )
    manifest = json.loads(clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{target}").stdout)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert [layer["digest"] for layer in manifest["layers"]] == [sha256(x) for x in image.layers]
    with plain_registry.client() as http:
        response = http.get(
            "/v2/e2e/docker-format/manifests/v1", headers={"Accept": DOCKER_MANIFEST}
        )
        assert response.headers["content-type"] == DOCKER_MANIFEST


def test_zstd_layers(clients: Clients, plain_registry: RunningServer, tmp_path: Path) -> None:
    # A fresh image: skopeo reuses gzip blobs it already knows at this registry.
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_image([{"z.txt": os.urandom(2048).hex().encode()}]), "src")
    target = f"{host_of(plain_registry)}/e2e/zstd:v1"
    clients.skopeo(
        "copy", NO_TLS_DEST, "--dest-compress-format", "zstd",
        f"oci:{layout.path}:src", f"docker://{target}",
    )  # fmt: skip
    manifest = json.loads(clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{target}").stdout)
    assert {layer["mediaType"] for layer in manifest["layers"]} == {OCI_LAYER_ZSTD}
    out = tmp_path / "out"
    clients.skopeo("copy", NO_TLS_SRC, f"docker://{target}", f"dir:{out}")
    for layer in manifest["layers"]:
        data = (out / layer["digest"].removeprefix("sha256:")).read_bytes()
        assert data[:4] == ZSTD_MAGIC
        assert sha256(data) == layer["digest"]


def test_multi_arch_index_with_all(
    clients: Clients, plain_registry: RunningServer, tmp_path: Path
) -> None:
    images = [make_image([{"arch.txt": arch.encode()}], arch=arch) for arch in ("amd64", "arm64")]
    layout = OciLayout(tmp_path / "multi")
    index = layout.add_index(images, "multi")
    ref = f"{host_of(plain_registry)}/e2e/multi:v1"
    clients.skopeo("copy", "--all", NO_TLS_DEST, f"oci:{layout.path}:multi", f"docker://{ref}")

    raw = clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{ref}").stdout.encode()
    assert raw == index
    with plain_registry.client() as http:
        for child in images:
            got = http.get(
                f"/v2/e2e/multi/manifests/{child.digest}", headers={"Accept": OCI_MANIFEST}
            )
            assert got.status_code == 200
            assert got.content == child.manifest

    out = tmp_path / "out"
    clients.skopeo("copy", "--all", NO_TLS_SRC, f"docker://{ref}", f"oci:{out}:multi")
    top, blobs = read_layout(out, "multi")
    assert top == index
    for child in images:
        assert blobs[child.digest] == child.manifest
        for blob in child.blobs:
            assert blobs[sha256(blob)] == blob

    # Without --all skopeo picks one platform from the index.
    arm = tmp_path / "arm"
    clients.skopeo(
        "--override-arch", "arm64", "copy", NO_TLS_SRC, f"docker://{ref}", f"oci:{arm}:arm"
    )
    manifest, _ = read_layout(arm, "arm")
    assert manifest == images[1].manifest


def test_delete_then_manifest_is_gone(
    clients: Clients, plain_registry: RunningServer, image: LayoutImage, tmp_path: Path
) -> None:
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(image, "src")
    ref = f"{host_of(plain_registry)}/e2e/deleteme:v1"
    clients.skopeo("copy", NO_TLS_DEST, f"oci:{layout.path}:src", f"docker://{ref}")
    clients.skopeo("delete", NO_TLS, f"docker://{ref}")

    with plain_registry.client() as http:
        by_digest = http.get(
            f"/v2/e2e/deleteme/manifests/{image.digest}", headers={"Accept": OCI_MANIFEST}
        )
        assert by_digest.status_code == 404
        assert by_digest.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        by_tag = http.get("/v2/e2e/deleteme/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert by_tag.status_code == 404
    failed = clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{ref}", check=False)
    assert failed.returncode != 0
    assert "manifest unknown" in failed.stderr.lower(), failed.stderr


def test_delete_refused_when_disabled(clients: Clients, image: LayoutImage, tmp_path: Path) -> None:
    from support.server import serving

    layout = OciLayout(tmp_path / "layout")
    layout.add_image(image, "src")
    with serving(tmp_path) as server:
        ref = f"{host_of(server)}/e2e/keep:v1"
        clients.skopeo("copy", NO_TLS_DEST, f"oci:{layout.path}:src", f"docker://{ref}")
        failed = clients.skopeo("delete", NO_TLS, f"docker://{ref}", check=False)
        assert failed.returncode != 0
        assert "405 Method Not Allowed" in failed.stderr, failed.stderr
        raw = clients.skopeo("inspect", NO_TLS, "--raw", f"docker://{ref}").stdout
        assert raw.encode() == image.manifest
