"""dockyard over TLS with a private CA: clients verify the certificate (tls-verify stays ON),
with and without htpasswd auth; HTTP/2 is negotiated by ALPN."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import (
    OCI_MANIFEST,
    PASSWORD,
    USER,
    Clients,
    LayoutImage,
    OciLayout,
    TlsFiles,
    auth_env,
    auth_refused,
    host_of,
    layer_files,
    make_image,
    read_layout,
    sha256,
    tls_env,
)
from support.server import RunningServer, serving

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def tls_registry(
    tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles
) -> Iterator[RunningServer]:
    """TLS, no auth."""
    workdir = tmp_path_factory.mktemp("tls-open")
    with serving(workdir, env=tls_env(tls), scheme="https", verify=tls.ssl_context()) as server:
        yield server


@pytest.fixture(scope="module")
def tls_auth_registry(
    tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles, htpasswd: Path
) -> Iterator[RunningServer]:
    """TLS and htpasswd auth."""
    workdir = tmp_path_factory.mktemp("tls-auth")
    env = {**tls_env(tls), **auth_env(htpasswd)}
    with serving(workdir, env=env, scheme="https", verify=tls.ssl_context()) as server:
        yield server


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LayoutImage]:
    image = make_image(
        [{"etc/tls.txt": b"served over TLS\n"}, {"blob.bin": bytes(range(256)) * 4096}]
    )
    layout = OciLayout(tmp_path_factory.mktemp("tls-src"))
    layout.add_image(image, "v1")
    return layout.path, image


def test_skopeo_verified_round_trip(
    clients: Clients,
    tls: TlsFiles,
    tls_registry: RunningServer,
    source: tuple[Path, LayoutImage],
    tmp_path: Path,
) -> None:
    layout, image = source
    ref = f"{host_of(tls_registry)}/e2e/tls:v1"
    cert_dir = str(tls.cert_dir)
    clients.skopeo("copy", "--dest-cert-dir", cert_dir, f"oci:{layout}:v1", f"docker://{ref}")
    raw = clients.skopeo("inspect", "--cert-dir", cert_dir, "--raw", f"docker://{ref}").stdout
    assert raw.encode() == image.manifest
    out = tmp_path / "out"
    clients.skopeo("copy", "--src-cert-dir", cert_dir, f"docker://{ref}", f"oci:{out}:v1")
    manifest, blobs = read_layout(out, "v1")
    assert manifest == image.manifest
    for blob in image.blobs:
        assert blobs[sha256(blob)] == blob


def test_unknown_ca_is_refused(clients: Clients, tls_registry: RunningServer) -> None:
    failed = clients.skopeo(
        "inspect", "--raw", f"docker://{host_of(tls_registry)}/e2e/tls:v1", check=False
    )
    assert failed.returncode != 0
    assert "certificate signed by unknown authority" in failed.stderr, failed.stderr


def test_http2_is_negotiated(
    clients: Clients, tls: TlsFiles, tls_registry: RunningServer, source: tuple[Path, LayoutImage]
) -> None:
    layout, image = source
    ref = f"{host_of(tls_registry)}/e2e/h2:v1"
    clients.skopeo(
        "copy", "--dest-cert-dir", str(tls.cert_dir), f"oci:{layout}:v1", f"docker://{ref}"
    )
    with httpx.Client(base_url=tls_registry.url, http2=True, verify=tls.ssl_context()) as http:
        base = http.get("/v2/")
        assert base.http_version == "HTTP/2"
        assert base.status_code == 200
        manifest = http.get("/v2/e2e/h2/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert manifest.http_version == "HTTP/2"
        assert manifest.content == image.manifest
        layer = http.get(f"/v2/e2e/h2/blobs/{sha256(image.layers[1])}")
        assert layer.http_version == "HTTP/2"
        assert layer.content == image.layers[1]
    with httpx.Client(base_url=tls_registry.url, verify=tls.ssl_context()) as http1:
        assert http1.get("/v2/").http_version == "HTTP/1.1"


def test_skopeo_with_auth_over_tls(
    clients: Clients,
    tls: TlsFiles,
    tls_auth_registry: RunningServer,
    source: tuple[Path, LayoutImage],
) -> None:
    layout, image = source
    repo = f"{host_of(tls_auth_registry)}/e2e/tls-auth"
    cert_dir = str(tls.cert_dir)
    denied = clients.skopeo(
        "copy", "--dest-cert-dir", cert_dir, f"oci:{layout}:v1", f"docker://{repo}:v1", check=False
    )
    assert auth_refused(denied), denied.stderr
    clients.skopeo(
        "copy", "--dest-cert-dir", cert_dir, "--dest-creds", f"{USER}:{PASSWORD}",
        f"oci:{layout}:v1", f"docker://{repo}:v1",
    )  # fmt: skip
    creds = f"--creds={USER}:{PASSWORD}"
    tags = json.loads(
        clients.skopeo("list-tags", "--cert-dir", cert_dir, creds, f"docker://{repo}").stdout
    )
    assert tags["Tags"] == ["v1"]
    raw = clients.skopeo(
        "inspect", "--cert-dir", cert_dir, creds, "--raw", f"docker://{repo}:v1"
    ).stdout
    assert raw.encode() == image.manifest


def test_podman_login_push_pull_over_tls(
    clients: Clients,
    tls: TlsFiles,
    tls_auth_registry: RunningServer,
    source: tuple[Path, LayoutImage],
) -> None:
    layout, image = source
    host = host_of(tls_auth_registry)
    cert_dir = str(tls.cert_dir)
    bad = clients.podman(
        "login", "--cert-dir", cert_dir, "-u", USER, "--password-stdin", host,
        input_text="wrong\n", check=False,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "invalid username/password" in bad.stderr, bad.stderr
    login = clients.podman(
        "login",
        "--cert-dir",
        cert_dir,
        "-u",
        USER,
        "--password-stdin",
        host,
        input_text=PASSWORD + "\n",
    )
    assert "Login Succeeded" in login.stdout
    try:
        ref = f"{host}/e2e/tls-podman:v1"
        clients.skopeo("copy", "--dest-cert-dir", cert_dir, f"oci:{layout}:v1", f"docker://{ref}")
        clients.podman("pull", "--cert-dir", cert_dir, "-q", ref)
        inspected = json.loads(clients.podman("image", "inspect", ref).stdout)[0]
        assert inspected["Digest"] == image.digest
        pushed = f"{host}/e2e/tls-podman-copy:v1"
        clients.podman("push", "--cert-dir", cert_dir, ref, f"docker://{pushed}")
        copied = clients.skopeo("inspect", "--cert-dir", cert_dir, f"docker://{pushed}").stdout
        assert json.loads(copied)["Layers"] == [sha256(layer) for layer in image.layers]
    finally:
        clients.podman("logout", host)
    assert host not in json.loads(clients.authfile.read_text()).get("auths", {})


def test_buildah_push_over_tls(
    clients: Clients, tls: TlsFiles, tls_auth_registry: RunningServer, tmp_path: Path
) -> None:
    payload = tmp_path / "note.txt"
    payload.write_text("pushed by buildah over TLS\n")
    container = clients.buildah("from", "--name", "e2e-tls-work", "scratch").stdout.strip()
    try:
        clients.buildah("copy", container, str(payload), "/note.txt")
        clients.buildah("commit", "--format", "oci", container, "localhost/e2e-tls-buildah:v1")
    finally:
        clients.buildah("rm", container, check=False)
    ref = f"{host_of(tls_auth_registry)}/e2e/tls-buildah:v1"
    cert_dir = str(tls.cert_dir)
    clients.buildah(
        "push", "--cert-dir", cert_dir, "--creds", f"{USER}:{PASSWORD}",
        "localhost/e2e-tls-buildah:v1", f"docker://{ref}",
    )  # fmt: skip
    out = tmp_path / "out"
    clients.skopeo(
        "copy", "--src-cert-dir", cert_dir, "--src-creds", f"{USER}:{PASSWORD}",
        f"docker://{ref}", f"dir:{out}",
    )  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mediaType"] == OCI_MANIFEST
    layer = (out / manifest["layers"][0]["digest"].removeprefix("sha256:")).read_bytes()
    assert layer_files(layer) == {"note.txt": b"pushed by buildah over TLS\n"}


def test_uvicorn_serves_tls_too(
    clients: Clients, tls: TlsFiles, source: tuple[Path, LayoutImage], tmp_path: Path
) -> None:
    """The development server (uvicorn) with the same certificate: HTTP/1.1, verified."""
    layout, image = source
    env = tls_env(tls)
    with serving(
        tmp_path, env=env, server="uvicorn", scheme="https", verify=tls.ssl_context()
    ) as srv:
        ref = f"{host_of(srv)}/e2e/uvicorn-tls:v1"
        cert_dir = str(tls.cert_dir)
        clients.skopeo("copy", "--dest-cert-dir", cert_dir, f"oci:{layout}:v1", f"docker://{ref}")
        raw = clients.skopeo("inspect", "--cert-dir", cert_dir, "--raw", f"docker://{ref}").stdout
        assert raw.encode() == image.manifest
