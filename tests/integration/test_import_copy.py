"""``dockyard import`` of a registry:2 root that is not dockyard's storage: blobs are copied.

The root is written by the real registry:2 (Debian's docker-registry); dockyard stores its
blobs in a real SeaweedFS (S3), or under another local root. The source root is never changed.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from support import seaweed
from support.oci import sha256
from support.registry2 import ReferenceRoot, assert_pulls_byte_identical, write_reference_root
from support.server import DOCKYARD, serving

_COPIED = re.compile(r"(would copy|copied) (\d+) blobs \((\d+) bytes\)")


def _import(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    return subprocess.run(
        [DOCKYARD, "import", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**clean, **(env or {})},
    )


def _copied(stdout: str) -> tuple[int, int]:
    found = _COPIED.search(stdout)
    assert found, stdout
    return int(found.group(2)), int(found.group(3))


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``root`` with its size and modification time (ns)."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file()
    }


def _import_twice(root: Path, pushed: ReferenceRoot, *args: str, env: dict[str, str]) -> None:
    """Dry run, real run, repeat: the counts agree, the repeat copies nothing, the source
    root is untouched."""
    before = _tree(root)
    blobs = pushed.blobs()
    expected = (len(blobs), sum(len(b) for b in blobs.values()))
    dry = _import("--dry-run", *args, str(root), env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would import 3 new repositories" in dry.stdout and _copied(dry.stdout) == expected
    first = _import(*args, str(root), env=env)
    assert first.returncode == 0, first.stderr
    assert "imported 3 new repositories" in first.stdout and _copied(first.stdout) == expected
    again = _import(*args, str(root), env=env)
    assert again.returncode == 0, again.stderr
    assert _copied(again.stdout) == (0, 0), "a repeated import copies nothing"
    assert again.stdout.startswith(
        "imported 0 new repositories, 0 new blob links, 0 new manifests, 0 new tags "
        "(already recorded: 3 repositories, "
    ), again.stdout
    new_first = first.stdout.split(" (")[0].replace(" new", "").removeprefix("imported ")
    assert f"(already recorded: {new_first})" in again.stdout, "the same links, all known"
    assert _tree(root) == before, "the source root must not change"


@pytest.mark.clients
def test_import_into_s3_then_pull_byte_identical(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path / "root"
    pushed = write_reference_root(root, tmp_path)
    weed = seaweed.session_seaweed(tmp_path_factory)
    env = {
        **weed.env(seaweed.unique_root("import")),
        "REGISTRY_DOCKYARD_DATABASE": f"sqlite:///{tmp_path / 'metadata.db'}",
        "REGISTRY_STORAGE_REDIRECT_DISABLE": "true",
    }
    _import_twice(root, pushed, env=env)
    with serving(tmp_path, env=env) as server, server.client() as client:
        assert client.get("/v2/_catalog").json()["repositories"] == [
            "deep/nested/repo",
            "library/simple",
            "team/app",
        ]
        assert_pulls_byte_identical(client, pushed)
        assert client.get("/v2/team/app/tags/list").json()["tags"] == ["latest", "reuse"]


@pytest.mark.clients
def test_import_into_another_local_root(tmp_path: Path) -> None:
    root, target = tmp_path / "root", tmp_path / "target"
    pushed = write_reference_root(root, tmp_path)
    _import_twice(root, pushed, "--data-dir", str(target), env={})
    for digest, data in pushed.blobs().items():
        hexa = digest.removeprefix("sha256:")
        stored = target / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"
        assert stored.read_bytes() == data
    uploads = target / "dockyard" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "no staging files left"
    assert not (root / "dockyard").exists(), "nothing written into the source root"
    with serving(tmp_path, data_dir=target) as server, server.client() as client:
        assert_pulls_byte_identical(client, pushed)


@pytest.mark.clients
def test_a_corrupt_source_blob_is_never_published(tmp_path: Path) -> None:
    root, target = tmp_path / "root", tmp_path / "target"
    pushed = write_reference_root(root, tmp_path)
    _, _, image = pushed.tagged[1]  # library/simple:docker, whose layer no other image uses
    hexa = sha256(image.layers[0]).removeprefix("sha256:")
    source = root / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"
    source.write_bytes(bytes(b ^ 0xFF for b in source.read_bytes()))  # same size, wrong bytes
    result = _import("--data-dir", str(target), str(root))
    assert result.returncode == 1
    assert f"blob sha256:{hexa} not imported" in result.stderr
    assert "do not match the digest" in result.stderr
    assert "references missing content" in result.stderr
    assert not (target / "docker/registry/v2/blobs/sha256" / hexa[:2] / hexa).exists()
    uploads = target / "dockyard" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "no staging files left"
    with serving(tmp_path, data_dir=target) as server, server.client() as client:
        assert client.get("/v2/library/simple/manifests/docker").status_code == 404
        assert client.get(f"/v2/library/simple/blobs/sha256:{hexa}").status_code == 404
        assert client.get("/v2/library/simple/manifests/v1").status_code == 200


def test_import_refuses_a_root_dockyard_cannot_find(tmp_path: Path) -> None:
    result = _import("--data-dir", str(tmp_path / "target"), str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "does not look like a registry:2 storage root" in result.stderr
