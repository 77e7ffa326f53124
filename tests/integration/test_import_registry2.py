"""Take over a storage root written by the real registry:2 (Debian docker-registry 2.8)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import OciLayout
from e2e.clientkit import make_image as make_layout_image
from support.oci import DOCKER_MANIFEST, OCI_INDEX, make_image, make_index, sha256
from support.registry2 import push_image as _push_image
from support.registry2 import push_manifest as _push_manifest
from support.registry2 import reference_registry
from support.server import DOCKYARD, serving


@pytest.mark.clients
def test_import_reference_root_then_pull_byte_identical(tmp_path: Path) -> None:
    root = tmp_path / "root"
    simple = make_image(layers=2)
    docker = make_image(layers=1, media_type=DOCKER_MANIFEST)
    moved_from, moved_to = make_image(layers=1), make_image(layers=1)
    deleted = make_image(layers=1)
    children = [make_image(layers=1), make_image(layers=1)]
    index = make_index(children)
    layout_dir = tmp_path / "layout"
    layout = OciLayout(layout_dir)
    multi = [
        make_layout_image([{"a.txt": b"amd64"}]),
        make_layout_image([{"a.txt": b"arm"}], arch="arm64"),
    ]
    layout_index = layout.add_index(multi, "multi")

    with (
        reference_registry(root, tmp_path) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        _push_image(client, "library/simple", simple, "v1")
        _push_image(client, "library/simple", docker, "docker")
        _push_image(client, "team/app", moved_from, "latest")
        _push_image(client, "team/app", moved_to, "latest")
        _push_image(client, "team/app", deleted, "gone")
        assert client.delete(f"/v2/team/app/manifests/{deleted.digest}").status_code == 202
        for child in children:
            _push_image(client, "deep/nested/repo", child, f"arch-{child.digest[7:13]}")
        _push_manifest(client, "deep/nested/repo", "multi", index, OCI_INDEX)
        copy = subprocess.run(
            ["skopeo", "copy", "--all", "--dest-tls-verify=false",
             f"oci:{layout_dir}:multi", f"docker://{url.removeprefix('http://')}/skopeo/multi:1"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert copy.returncode == 0, copy.stderr

    dry = subprocess.run(
        [DOCKYARD, "import", "--dry-run", str(root)], capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would import 4 new repositories, ")
    assert "(already recorded: 0 repositories, 0 blob links, 0 manifests, 0 tags)" in dry.stdout
    result = subprocess.run(
        [DOCKYARD, "import", str(root)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == dry.stdout.replace("would import", "imported")
    found = re.fullmatch(
        r"imported 4 new repositories, (\d+) new blob links, (\d+) new manifests, "
        r"(\d+) new tags \(already recorded: 0 repositories, 0 blob links, 0 manifests, "
        r"0 tags\)\n", result.stdout,
    )  # fmt: skip
    assert found and all(int(n) > 0 for n in found.groups()), result.stdout
    again = subprocess.run(
        [DOCKYARD, "import", str(root)], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr  # repeatable, and says it recorded nothing new
    blobs, manifests, tags = found.groups()
    assert again.stdout == (
        "imported 0 new repositories, 0 new blob links, 0 new manifests, 0 new tags "
        f"(already recorded: 4 repositories, {blobs} blob links, {manifests} manifests, "
        f"{tags} tags)\n"
    )

    with serving(tmp_path, data_dir=root) as server, server.client() as client:
        catalog = client.get("/v2/_catalog").json()["repositories"]
        assert catalog == ["deep/nested/repo", "library/simple", "skopeo/multi", "team/app"]
        for repo, tag, image in [
            ("library/simple", "v1", simple),
            ("library/simple", "docker", docker),
            ("team/app", "latest", moved_to),
        ]:
            got = client.get(f"/v2/{repo}/manifests/{tag}")
            assert got.content == image.manifest and got.headers["Content-Type"] == image.media_type
            for blob in [image.config, *image.layers]:
                assert client.get(f"/v2/{repo}/blobs/{sha256(blob)}").content == blob
        assert client.get(f"/v2/team/app/manifests/{moved_from.digest}").status_code == 200
        assert client.get(f"/v2/team/app/manifests/{deleted.digest}").status_code == 404
        assert client.get("/v2/team/app/manifests/gone").status_code == 404
        assert client.get("/v2/team/app/tags/list").json()["tags"] == ["latest"]
        assert client.get("/v2/deep/nested/repo/manifests/multi").content == index
        pulled = client.get("/v2/skopeo/multi/manifests/1")
        assert pulled.content == layout_index
        for image in multi:
            assert (
                client.get(f"/v2/skopeo/multi/manifests/{image.digest}").content == image.manifest
            )
            for blob in image.blobs:
                assert client.get(f"/v2/skopeo/multi/blobs/{sha256(blob)}").content == blob


def test_import_refuses_a_directory_that_is_not_a_registry_root(tmp_path: Path) -> None:
    result = subprocess.run(
        [DOCKYARD, "import", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "does not look like a registry:2 storage root" in result.stderr


def test_import_reports_missing_bytes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    image = make_image(layers=1)
    with (
        reference_registry(root, tmp_path) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        _push_image(client, "broken/repo", image, "v1")
    layer = sha256(image.layers[0]).removeprefix("sha256:")
    shutil.rmtree(root / "docker/registry/v2/blobs/sha256" / layer[:2] / layer)
    result = subprocess.run(
        [DOCKYARD, "import", str(root)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "bytes are missing" in result.stderr
    assert "references missing content" in result.stderr
