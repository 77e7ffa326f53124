"""The docker CLI's registry-only commands (``docker manifest``) against dockyard.

There is no Docker engine on these machines, so ``docker push``/``pull``/``login`` cannot run;
``docker manifest inspect|create|push`` talk to the registry directly. The docker CLI is not a
package ``scripts/bootstrap --test`` installs, so these tests are skipped (with the reason shown
by ``-ra``) when it is absent, unlike skopeo/podman/buildah, whose absence fails the run.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.clientkit import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    PASSWORD,
    USER,
    Clients,
    LayoutImage,
    OciLayout,
    auth_env,
    host_of,
    make_image,
    run,
    sha256,
)
from support.server import RunningServer, serving

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(shutil.which("docker") is None, reason="docker CLI not installed"),
]


@pytest.fixture
def docker_config(tmp_path: Path) -> Path:
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text("{}")
    return config


def docker(config: Path, *args: str, check: bool = True) -> str:
    """Run the docker CLI with a private config directory (no engine needed for these)."""
    env = {"HOME": str(config), "DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
    result = run([shutil.which("docker") or "docker", *args], env=env, check=check)
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def arch_images(
    clients: Clients, plain_registry: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, LayoutImage]:
    """amd64 and arm64 images pushed (by skopeo) to e2e/docker-src:ARCH."""
    layout = OciLayout(tmp_path_factory.mktemp("docker-src"))
    images = {}
    for arch in ("amd64", "arm64"):
        images[arch] = make_image([{"etc/arch": arch.encode()}], arch=arch)
        layout.add_image(images[arch], arch)
        target = f"docker://{host_of(plain_registry)}/e2e/docker-src:{arch}"
        clients.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.path}:{arch}", target)
    return images


def test_manifest_inspect(
    docker_config: Path, plain_registry: RunningServer, arch_images: dict[str, LayoutImage]
) -> None:
    ref = f"{host_of(plain_registry)}/e2e/docker-src:amd64"
    shown = json.loads(docker(docker_config, "manifest", "inspect", "--insecure", ref))
    assert shown["mediaType"] == OCI_MANIFEST
    assert (
        shown["config"]["digest"] == json.loads(arch_images["amd64"].manifest)["config"]["digest"]
    )
    verbose = json.loads(docker(docker_config, "manifest", "inspect", "--insecure", "-v", ref))
    assert verbose["Descriptor"]["digest"] == arch_images["amd64"].digest
    assert base64.b64decode(verbose["Raw"]) == arch_images["amd64"].manifest


def test_manifest_create_and_push(
    docker_config: Path, plain_registry: RunningServer, arch_images: dict[str, LayoutImage]
) -> None:
    host = host_of(plain_registry)
    target = f"{host}/e2e/docker-list:v1"
    sources = [f"{host}/e2e/docker-src:{arch}" for arch in arch_images]
    docker(docker_config, "manifest", "create", "--insecure", target, *sources)
    docker(docker_config, "manifest", "push", "--insecure", "--purge", target)

    with plain_registry.client() as http:
        accept = f"{OCI_INDEX}, {DOCKER_LIST}"
        response = http.get("/v2/e2e/docker-list/manifests/v1", headers={"Accept": accept})
        assert response.status_code == 200, response.text
        index = response.json()
        by_arch = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
        assert by_arch == {arch: image.digest for arch, image in arch_images.items()}
        for image in arch_images.values():
            child = http.get(f"/v2/e2e/docker-list/manifests/{image.digest}")
            assert child.content == image.manifest
            for blob in image.blobs:  # docker mounts them from e2e/docker-src
                assert http.get(f"/v2/e2e/docker-list/blobs/{sha256(blob)}").content == blob
    shown = json.loads(docker(docker_config, "manifest", "inspect", "--insecure", target))
    assert len(shown["manifests"]) == 2


@pytest.fixture(scope="module")
def auth_registry(
    tmp_path_factory: pytest.TempPathFactory, htpasswd: Path
) -> Iterator[RunningServer]:
    with serving(tmp_path_factory.mktemp("docker-auth"), env=auth_env(htpasswd)) as server:
        yield server


def test_manifest_inspect_with_credentials(
    clients: Clients, docker_config: Path, auth_registry: RunningServer, tmp_path: Path
) -> None:
    image = make_image([{"secret.txt": b"behind auth\n"}])
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(image, "v1")
    ref = f"{host_of(auth_registry)}/e2e/docker-auth:v1"
    clients.skopeo(
        "copy", "--dest-tls-verify=false", f"--dest-creds={USER}:{PASSWORD}",
        f"oci:{layout.path}:v1", f"docker://{ref}",
    )  # fmt: skip
    refused = docker(docker_config, "manifest", "inspect", "--insecure", ref, check=False)
    assert "no basic auth credentials" in refused, refused
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    config = {"auths": {host_of(auth_registry): {"auth": token}}}
    (docker_config / "config.json").write_text(json.dumps(config))
    shown = json.loads(docker(docker_config, "manifest", "inspect", "--insecure", ref))
    assert shown["layers"][0]["digest"] == json.loads(image.manifest)["layers"][0]["digest"]
