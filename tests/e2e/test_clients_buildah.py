"""buildah builds from scratch and pushes to a plain-HTTP dockyard; skopeo pulls it back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.clientkit import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Clients,
    host_of,
    layer_files,
    sha256,
)
from support.server import RunningServer

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"
CONTAINERFILE = """\
FROM scratch
LABEL org.example.purpose="dockyard e2e"
ENV GREETING=hello
COPY hello.txt /srv/hello.txt
COPY data/ /srv/data/
"""


def pull_back(clients: Clients, ref: str, out: Path) -> tuple[dict, dict, dict[str, bytes]]:
    """skopeo copy the image to a ``dir:`` and return (manifest, config, files in all layers)."""
    clients.skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"dir:{out}")
    manifest = json.loads((out / "manifest.json").read_bytes())

    def blob(digest: str) -> bytes:
        data = (out / digest.removeprefix("sha256:")).read_bytes()
        assert sha256(data) == digest
        return data

    config = json.loads(blob(manifest["config"]["digest"]))
    files: dict[str, bytes] = {}
    for layer in manifest["layers"]:
        files.update(layer_files(blob(layer["digest"])))
    return manifest, config, files


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("oci", OCI_MANIFEST), ("docker", DOCKER_MANIFEST)],
    ids=["oci", "docker"],
)
def test_build_from_containerfile_and_push(
    clients: Clients, plain_registry: RunningServer, tmp_path: Path, fmt: str, media_type: str
) -> None:
    context = tmp_path / "context"
    (context / "data").mkdir(parents=True)
    (context / "Containerfile").write_text(CONTAINERFILE)
    (context / "hello.txt").write_text("hello from buildah\n")
    (context / "data/numbers.txt").write_text("\n".join(str(n) for n in range(1000)))
    local = f"localhost/e2e-buildah-bud:{fmt}"
    clients.buildah(
        "bud", "--isolation", "chroot", "--format", fmt, "--layers=false",
        "-f", str(context / "Containerfile"), "-t", local, str(context),
    )  # fmt: skip
    ref = f"{host_of(plain_registry)}/e2e/buildah-bud:{fmt}"
    digest_file = tmp_path / "digest"
    clients.buildah("push", NO_TLS, "--digestfile", str(digest_file), local, f"docker://{ref}")

    manifest, config, files = pull_back(clients, ref, tmp_path / "pulled")
    assert manifest["mediaType"] == media_type
    assert (
        sha256((tmp_path / "pulled/manifest.json").read_bytes()) == digest_file.read_text().strip()
    )
    assert files["srv/hello.txt"] == b"hello from buildah\n"
    assert files["srv/data/numbers.txt"] == "\n".join(str(n) for n in range(1000)).encode()
    assert config["config"]["Labels"]["org.example.purpose"] == "dockyard e2e"
    assert "GREETING=hello" in config["config"]["Env"]


def test_from_scratch_copy_commit_straight_to_registry(
    clients: Clients, plain_registry: RunningServer, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"committed by buildah\n" * 100)
    container = clients.buildah("from", "--name", "e2e-scratch-work", "scratch").stdout.strip()
    try:
        clients.buildah("copy", container, str(payload), "/payload.txt")
        clients.buildah("config", "--entrypoint", '["/payload.txt"]', "--arch", "arm64", container)
        ref = f"{host_of(plain_registry)}/e2e/buildah-commit:v1"
        clients.buildah("commit", NO_TLS, "--format", "oci", container, f"docker://{ref}")
    finally:
        clients.buildah("rm", container, check=False)

    manifest, config, files = pull_back(clients, ref, tmp_path / "pulled")
    assert manifest["mediaType"] == OCI_MANIFEST
    assert files == {"payload.txt": b"committed by buildah\n" * 100}
    assert config["architecture"] == "arm64"
    assert config["config"]["Entrypoint"] == ["/payload.txt"]
    tags = json.loads(
        clients.skopeo("list-tags", NO_TLS, f"docker://{ref.rsplit(':', 1)[0]}").stdout
    )
    assert tags["Tags"] == ["v1"]
