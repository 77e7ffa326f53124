"""The container image (deploy/container): built with buildah from a Debian base made here with
debootstrap, then checked by running ``dockyard`` from the built image's root filesystem
(podman cannot run containers on these machines; a chroot can): as the image's unprivileged
user, with the root filesystem read-only and the data on a volume; a push and a pull work, the
health check passes, and the image metadata says what it should."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import Clients
from support.oci import make_image, push_image
from support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "container" / "build"
BASE = "localhost/dockyard-test-base:bookworm"
IMAGE = "localhost/dockyard:test"
USER = 10001

pytestmark = [pytest.mark.slow, pytest.mark.clients]


def _need(*tools: str) -> None:
    for tool in tools:
        assert shutil.which(tool), f"{tool} is missing: scripts/bootstrap --test installs it"
    if os.geteuid() != 0:
        pytest.skip("debootstrap and chroot need root")


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Clients, Path]]:
    """The image, built on a debootstrapped base; yields the tools and its mounted rootfs."""
    _need("debootstrap", "buildah", "unshare", "chroot")
    work = tmp_path_factory.mktemp("image")
    clients = Clients(work / "clients")
    rootfs = work / "base"
    _ok(subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3,python3-venv",
         "bookworm", str(rootfs), "http://deb.debian.org/debian"],
        capture_output=True, text=True, timeout=1200, check=False,
    ))  # fmt: skip
    base = _ok(clients.buildah("from", "scratch")).strip()
    _ok(clients.buildah("copy", base, str(rootfs), "/"))
    _ok(clients.buildah("commit", "--rm", base, BASE))
    shutil.rmtree(rootfs)
    build = subprocess.run(  # the build script's buildah uses the same private vfs storage
        [str(BUILD), "--tag", IMAGE, "--base", BASE, "--isolation", "chroot"],
        capture_output=True, text=True, timeout=1800, check=False, env=clients.env,
    )  # fmt: skip
    _ok(build)
    container = _ok(clients.buildah("from", IMAGE)).strip()
    mounted = Path(_ok(clients.buildah("mount", container)).strip())
    yield clients, mounted
    clients.buildah("umount", container)
    clients.buildah("rm", container)


def test_the_image_says_how_it_runs(built: tuple[Clients, Path]) -> None:
    clients, _ = built
    config = json.loads(_ok(clients.buildah("inspect", "--type", "image", IMAGE)))["Docker"]
    runs = config["config"]
    assert runs["User"] == f"{USER}:{USER}"
    assert runs["Entrypoint"] == ["dockyard"]
    assert runs["Cmd"] == ["serve", "--config", "/etc/dockyard/config.yml"]
    assert "/var/lib/dockyard" in runs["Volumes"]
    assert {"5000/tcp", "5001/tcp"} <= set(runs["ExposedPorts"])
    assert runs["Healthcheck"]["Test"][0] == "CMD"


def _chroot_command(rootfs: Path, data: Path, *command: str) -> list[str]:
    """``command`` in the image's filesystem, read-only, as its user, with a data volume and a
    private /tmp, in a mount namespace of its own (the host's mounts are untouched)."""
    script = (
        f"mount --bind {rootfs} {rootfs} && mount -o remount,bind,ro {rootfs} && "
        f"mount --bind {data} {rootfs}/var/lib/dockyard && "
        f"mount -t tmpfs tmpfs {rootfs}/tmp && mount -t proc proc {rootfs}/proc && "
        f"exec chroot --userspec={USER}:{USER} {rootfs} /usr/bin/env -i "
        "PATH=/opt/dockyard/bin:/usr/bin:/bin HOME=/var/lib/dockyard PYTHONDONTWRITEBYTECODE=1 "
        "sh -c 'cd /var/lib/dockyard && exec \"$@\"' sh " + " ".join(command)
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def test_dockyard_serves_from_the_image_read_only_as_its_user(
    built: tuple[Clients, Path], tmp_path: Path
) -> None:
    _, rootfs = built
    data = tmp_path / "volume"
    data.mkdir(mode=0o700)
    os.chown(data, USER, USER)
    port, debug = free_port(), free_port()
    command = _chroot_command(
        rootfs, data, "env", f"REGISTRY_HTTP_ADDR=127.0.0.1:{port}",
        f"REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:{debug}",
        "dockyard", "serve", "--config", "/etc/dockyard/config.yml",
    )  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait(client, server, tmp_path / "serve.log")
            image = make_image(layers=2, size=20_000)
            push_image(client, "team/app", image, tag="v1")
            pulled = client.get("/v2/team/app/manifests/v1",
                                headers={"Accept": image.media_type})  # fmt: skip
            assert pulled.status_code == 200 and pulled.content == image.manifest
        health = subprocess.run(
            _chroot_command(rootfs, data, "python3", "-c",
                            f"\"import urllib.request; urllib.request.urlopen("
                            f"'http://127.0.0.1:{port}/health', timeout=4)\""),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert health.returncode == 0, health.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
    assert (data / "dockyard" / "metadata.db").stat().st_uid == USER
    assert list((data / "docker" / "registry" / "v2" / "blobs").rglob("data"))
    assert not (rootfs / "var" / "lib" / "dockyard" / "dockyard").exists(), "all on the volume"


def _wait(client: httpx.Client, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        assert server.poll() is None, log.read_text()
        try:
            if client.get("/v2/").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(log.read_text())
