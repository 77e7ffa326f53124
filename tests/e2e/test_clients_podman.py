"""podman against a dockyard with htpasswd auth over plain HTTP: login/logout, push/pull, lists."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e.clientkit import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    PASSWORD,
    USER,
    Clients,
    OciLayout,
    auth_env,
    auth_refused,
    host_of,
    make_image,
    write_authfile,
)
from support.server import RunningServer, serving

pytestmark = pytest.mark.clients

NO_TLS = "--tls-verify=false"
CREDS = f"--creds={USER}:{PASSWORD}"
NO_TLS_DEST, CREDS_DEST = "--dest-tls-verify=false", f"--dest-creds={USER}:{PASSWORD}"
ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_LIST])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, htpasswd: Path) -> Iterator[RunningServer]:
    with serving(tmp_path_factory.mktemp("podman-auth"), env=auth_env(htpasswd)) as server:
        yield server


@pytest.fixture(scope="module")
def local_images(clients: Clients, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two single-platform images in podman's private storage, by architecture -> local name."""
    layout = OciLayout(tmp_path_factory.mktemp("podman-src"))
    names = {}
    for arch in ("amd64", "arm64"):
        layout.add_image(make_image([{"etc/arch": arch.encode() + b"\n"}], arch=arch), arch)
        name = f"localhost/e2e-podman-src:{arch}"
        pulled = clients.podman("pull", "--arch", arch, "-q", f"oci:{layout.path}:{arch}")
        clients.podman("tag", pulled.stdout.split()[-1], name)
        names[arch] = name
    return names


def _logged_in(clients: Clients, host: str) -> bool:
    auths = json.loads(clients.authfile.read_text() or "{}").get("auths", {})
    return host in auths


def _login(clients: Clients, host: str, password: str, check: bool = True) -> str:
    result = clients.podman(
        "login", NO_TLS, "--username", USER, "--password-stdin", host,
        input_text=password + "\n", check=check,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_wrong_password_is_rejected(clients: Clients, registry: RunningServer) -> None:
    host = host_of(registry)
    output = _login(clients, host, "not-the-password", check=False)
    assert "invalid username/password" in output, output
    assert not _logged_in(clients, host)
    with httpx.Client(base_url=registry.url, auth=(USER, "not-the-password")) as http:
        response = http.get("/v2/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="dockyard-e2e"'


def test_login_push_pull_logout(
    clients: Clients, registry: RunningServer, local_images: dict[str, str], tmp_path: Path
) -> None:
    host = host_of(registry)
    target = f"{host}/e2e/podman:v1"

    denied = clients.podman(
        "push", NO_TLS, local_images["amd64"], f"docker://{target}", check=False
    )
    assert auth_refused(denied), denied.stderr

    assert "Login Succeeded" in _login(clients, host, PASSWORD)
    entry = json.loads(clients.authfile.read_text())["auths"][host]
    assert base64.b64decode(entry["auth"]).decode() == f"{USER}:{PASSWORD}"

    digest_file = tmp_path / "digest"
    clients.podman(
        "push",
        NO_TLS,
        "--digestfile",
        str(digest_file),
        local_images["amd64"],
        f"docker://{target}",
    )
    pushed_digest = digest_file.read_text().strip()
    with httpx.Client(base_url=registry.url, auth=(USER, PASSWORD)) as http:
        response = http.get("/v2/e2e/podman/manifests/v1", headers={"Accept": ACCEPT})
        assert response.status_code == 200, response.text
        assert response.headers["docker-content-digest"] == pushed_digest
        assert http.get("/v2/e2e/podman/tags/list").json()["tags"] == ["v1"]
    assert httpx.get(f"{registry.url}/v2/e2e/podman/manifests/v1").status_code == 401

    # A pull that really downloads: an image podman has never seen, pushed by skopeo.
    fresh = make_image([{"etc/fresh": b"pulled by podman\n"}, {"etc/more": b"x" * 5000}])
    layout = OciLayout(tmp_path / "fresh")
    layout.add_image(fresh, "fresh")
    source = f"{host}/e2e/podman-pull:fresh"
    clients.skopeo(
        "copy", NO_TLS_DEST, CREDS_DEST, f"oci:{layout.path}:fresh", f"docker://{source}"
    )
    clients.podman("pull", NO_TLS, "-q", source)
    inspected = json.loads(clients.podman("image", "inspect", source).stdout)[0]
    assert inspected["Digest"] == fresh.digest
    assert inspected["RootFS"]["Layers"] == json.loads(fresh.config)["rootfs"]["diff_ids"]

    clients.podman("logout", host)
    assert not _logged_in(clients, host)
    clients.podman("rmi", source)
    refused = clients.podman("pull", NO_TLS, source, check=False)
    assert auth_refused(refused), refused.stderr


def test_manifest_list_push_all(
    clients: Clients, registry: RunningServer, local_images: dict[str, str]
) -> None:
    host = host_of(registry)
    target = f"{host}/e2e/podman-multi:v1"
    listname = "localhost/e2e-podman-list:v1"
    clients.podman("manifest", "create", listname)
    try:
        for arch in ("amd64", "arm64"):
            clients.podman("manifest", "add", listname, f"containers-storage:{local_images[arch]}")
        clients.podman("manifest", "push", "--all", NO_TLS, CREDS, listname, f"docker://{target}")
    finally:
        clients.podman("manifest", "rm", listname, check=False)

    with httpx.Client(base_url=registry.url, auth=(USER, PASSWORD)) as http:
        response = http.get("/v2/e2e/podman-multi/manifests/v1", headers={"Accept": ACCEPT})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] in (OCI_INDEX, DOCKER_LIST)
        index = json.loads(response.content)
        platforms = {entry["platform"]["architecture"]: entry for entry in index["manifests"]}
        assert sorted(platforms) == ["amd64", "arm64"]
        for arch, entry in platforms.items():
            child = http.get(
                f"/v2/e2e/podman-multi/manifests/{entry['digest']}",
                headers={"Accept": entry["mediaType"]},
            )
            assert child.status_code == 200, child.text
            assert child.headers["docker-content-digest"] == entry["digest"]
            manifest = child.json()
            config = http.get(f"/v2/e2e/podman-multi/blobs/{manifest['config']['digest']}")
            assert config.status_code == 200
            assert json.loads(config.content)["architecture"] == arch
            for layer in manifest["layers"]:
                assert http.head(f"/v2/e2e/podman-multi/blobs/{layer['digest']}").status_code == 200


def test_search_uses_catalog_and_tags(
    clients: Clients, registry: RunningServer, tmp_path: Path
) -> None:
    host = host_of(registry)
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_image([{"f": b"searchable"}]), "v1")
    for tag in ("1.0", "2.0"):
        target = f"docker://{host}/e2e/searchable:{tag}"
        clients.skopeo("copy", NO_TLS_DEST, CREDS_DEST, f"oci:{layout.path}:v1", target)
    # podman 4.3 search has no --creds: give it an auth file of its own.
    authfile = write_authfile(tmp_path / "auth.json", host, USER, PASSWORD)
    auth = f"--authfile={authfile}"
    found = clients.podman("search", NO_TLS, auth, "--format", "{{.Name}}", f"{host}/").stdout
    assert f"{host}/e2e/searchable" in found.split()
    listed = clients.podman("search", NO_TLS, auth, "--list-tags", f"{host}/e2e/searchable")
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]  # NAME TAG table
    assert sorted(rows) == [[f"{host}/e2e/searchable", "1.0"], [f"{host}/e2e/searchable", "2.0"]]
    anonymous = clients.podman("search", NO_TLS, f"{host}/", check=False)
    assert f"{host}/e2e/searchable" not in anonymous.stdout
