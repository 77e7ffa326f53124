"""``dockyard export`` writes OCI image layouts skopeo reads, and ``dockyard import-layout``
brings layouts back (its own, with referrers, and skopeo's)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import Clients, LayoutImage, OciLayout, host_of, make_image
from support.backup import assert_same_pulls, cli, pull_digests
from support.oci import OCI_MANIFEST, descriptor, push_image, sha256
from support.oci import make_image as make_artifact
from support.server import RunningServer, serving

pytestmark = pytest.mark.clients
NO_TLS_SRC, NO_TLS_DEST = "--src-tls-verify=false", "--dest-tls-verify=false"
SIGNATURE_TYPE = "application/vnd.example.signature"


def _push_with_skopeo(
    clients: Clients, server: RunningServer, base: Path, name: str
) -> LayoutImage:
    image = make_image([{"etc/motd": f"{name}\n".encode()}, {"bin/tool": b"x" * 300_000}])
    layout = OciLayout(base / f"in-{name.replace('/', '-')}")
    layout.add_image(image, "v1")
    clients.skopeo(
        "copy", NO_TLS_DEST, f"oci:{layout.path}:v1", f"docker://{host_of(server)}/{name}:v1"
    )
    return image


def _referrers(client: httpx.Client, repo: str, digest: str) -> list[str]:
    response = client.get(f"/v2/{repo}/referrers/{digest}")
    assert response.status_code == 200, response.text
    return [entry["digest"] for entry in response.json()["manifests"]]


def test_export_reads_with_skopeo_and_imports_back_with_referrers(
    clients: Clients, tmp_path: Path
) -> None:
    with serving(tmp_path, env={}) as source, source.client() as client:
        image = _push_with_skopeo(clients, source, tmp_path, "team/app")
        _push_with_skopeo(clients, source, tmp_path, "team/tool")
        subject = descriptor(image.manifest, OCI_MANIFEST)
        signature = make_artifact(layers=1, subject=subject, artifact_type=SIGNATURE_TYPE)
        push_image(client, "team/app", signature)  # untagged: a referrer of v1

        single = tmp_path / "single"
        result = cli(["export", str(single), "--repositories", "team/app", "--data-dir",
                      str(source.data_dir)], {})  # fmt: skip
        assert result.returncode == 0, result.stderr
        index = json.loads((single / "index.json").read_text())
        refs = [e.get("annotations", {}).get("org.opencontainers.image.ref.name")
                for e in index["manifests"]]  # fmt: skip
        assert sorted(map(str, refs)) == ["None", "v1"]
        assert json.loads((single / "oci-layout").read_text())["imageLayoutVersion"] == "1.0.0"

        with serving(tmp_path, env={}, data_dir=tmp_path / "copy") as other:
            target = f"docker://{host_of(other)}/moved/app:v1"
            clients.skopeo("copy", NO_TLS_DEST, f"oci:{single}:v1", target)
            with other.client() as moved:
                assert pull_digests(moved, "moved/app", "v1") == pull_digests(
                    client, "team/app", "v1"
                )

        project = tmp_path / "project"
        result = cli(["export", str(project), "--project", "team", "--data-dir",
                      str(source.data_dir)], {})  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "exported 2 repositories: 2 tags, 3 manifests" in result.stdout
        inspected = clients.skopeo("inspect", "--raw", f"oci:{project}:team/tool:v1")
        assert inspected.returncode == 0, inspected.stderr

        restored = tmp_path / "restored"
        imported = cli(["import-layout", str(project), "--data-dir", str(restored)], {})
        assert imported.returncode == 0, imported.stderr
        assert "imported 2 repositories: 2 tags, 3 manifests" in imported.stdout
        fsck = cli(["fsck", "--rehash", "all", "--data-dir", str(restored)], {})
        assert ": 0 problems" in fsck.stdout, fsck.stdout + fsck.stderr
        with serving(tmp_path, env={}, data_dir=restored) as back, back.client() as again:
            assert len(assert_same_pulls(client, again)) == 2
            assert _referrers(again, "team/app", image.digest) == [signature.digest]
            assert again.get(f"/v2/team/app/manifests/{signature.digest}").content == (
                signature.manifest
            )

        repeat = cli(["import-layout", str(project), "--data-dir", str(restored)], {})
        assert repeat.returncode == 0 and "copied 0 blobs" in repeat.stdout


def test_import_layout_reads_what_skopeo_writes(clients: Clients, tmp_path: Path) -> None:
    with serving(tmp_path, env={}) as source, source.client() as client:
        _push_with_skopeo(clients, source, tmp_path, "origin/app")
        layout = tmp_path / "from-skopeo"
        clients.skopeo("copy", NO_TLS_SRC, f"docker://{host_of(source)}/origin/app:v1",
                       f"oci:{layout}:stable")  # fmt: skip
        target = tmp_path / "target"
        nameless = cli(["import-layout", str(layout), "--data-dir", str(target)], {})
        assert nameless.returncode == 1 and "pass --repository" in nameless.stderr
        result = cli(["import-layout", str(layout), "--repository", "copied/app",
                      "--data-dir", str(target)], {})  # fmt: skip
        assert result.returncode == 0, result.stderr
        with serving(tmp_path, env={}, data_dir=target) as other, other.client() as copied:
            assert pull_digests(copied, "copied/app", "stable") == pull_digests(
                client, "origin/app", "v1"
            )


def test_import_layout_refuses_a_layout_with_a_bad_blob(tmp_path: Path) -> None:
    image = make_image([{"etc/motd": b"tampered\n"}])
    layout = OciLayout(tmp_path / "bad")
    layout.add_image(image, "v1")
    victim = layout.path / "blobs/sha256" / sha256(image.layers[0]).removeprefix("sha256:")
    data = victim.read_bytes()
    victim.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # same size, other bytes
    target = tmp_path / "target"
    result = cli(["import-layout", str(layout.path), "--repository", "bad/app",
                  "--data-dir", str(target)], {})  # fmt: skip
    assert result.returncode == 1
    assert "do not match the digest" in result.stderr
    assert "references missing content" in result.stderr
    assert not list((target / "docker/registry/v2/blobs").rglob("data")) or all(
        p.read_bytes() != victim.read_bytes()
        for p in (target / "docker/registry/v2/blobs").rglob("data")
    )
