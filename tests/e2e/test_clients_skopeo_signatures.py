"""Real clients against trust policies: skopeo and podman pulls refused and allowed as the
project's policy and the image's signatures change; and skopeo's own ``sigstoreSigned``
verification accepts the cosign signatures the tests make (so they are cosign's format, not
only dockyard's idea of it) and refuses a tampered one, as dockyard does. Debian's skopeo
1.9.3 is built with sigstore disabled: there that cross-check reports itself skipped."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.clientkit import Clients, LayoutImage, host_of, make_image, require_tool, run
from support.identity import ADMIN, Api, identity_server
from support.oci import OCI_MANIFEST, push_blob
from support.server import RunningServer
from support.signing import ec_key, public_pem, simple_signing_payload
from support.trusted import push_cosign_signature

pytestmark = pytest.mark.clients
PROJECT = "signed"
KEY = ec_key()
NO_TLS, CREDS = "--src-tls-verify=false", f"--src-creds={ADMIN[0]}:{ADMIN[1]}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with identity_server(tmp_path_factory.mktemp("signed")) as running, Api(running) as admin:
        admin.project(PROJECT)
        yield running


def push(client: httpx.Client, repo: str, image: LayoutImage, tag: str) -> None:
    for blob in image.blobs:
        push_blob(client, repo, blob)
    response = client.put(
        f"/v2/{repo}/manifests/{tag}",
        content=image.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert response.status_code == 201, response.text


def set_policy(server: RunningServer, *, mode: str = "enforce") -> None:
    body = {"signers": [{"kind": "key", "pem": public_pem(KEY)}], "mode": mode}
    with Api(server) as admin:
        admin.ok("PUT", f"/projects/{PROJECT}/trust-policies/release", json=body)


def drop_policy(server: RunningServer) -> None:
    with Api(server) as admin:
        admin.ok("DELETE", f"/projects/{PROJECT}/trust-policies/release", 204)


def skopeo_pull(clients: Clients, reference: str, target: Path) -> Any:
    return clients.skopeo("copy", NO_TLS, CREDS, f"docker://{reference}", f"dir:{target}",
                          check=False)  # fmt: skip


def test_skopeo_and_podman_pulls_follow_the_policy(
    clients: Clients, server: RunningServer, tmp_path: Path
) -> None:
    repo, host = f"{PROJECT}/app", host_of(server)
    image = make_image([{"etc/release": b"1\n"}])
    with server.client(auth=ADMIN) as registry:
        push(registry, repo, image, "v1")
        assert skopeo_pull(clients, f"{host}/{repo}:v1", tmp_path / "a").returncode == 0
        set_policy(server)
        refused = skopeo_pull(clients, f"{host}/{repo}:v1", tmp_path / "b")
        assert refused.returncode != 0
        assert 'trust policy "release"' in refused.stderr or "denied" in refused.stderr.lower()
        podman = clients.podman("pull", "--tls-verify=false", f"--creds={ADMIN[0]}:{ADMIN[1]}",
                                f"{host}/{repo}:v1", check=False)  # fmt: skip
        assert podman.returncode != 0
        push_cosign_signature(registry, repo, image.digest, KEY, docker_reference=f"{host}/{repo}")
        assert skopeo_pull(clients, f"{host}/{repo}:v1", tmp_path / "c").returncode == 0
        podman = clients.podman("pull", "--tls-verify=false", f"--creds={ADMIN[0]}:{ADMIN[1]}",
                                f"{host}/{repo}:v1", check=False)  # fmt: skip
        assert podman.returncode == 0, podman.stderr
        set_policy(server, mode="warn")
        unsigned = make_image([{"etc/release": b"2\n"}])
        push(registry, repo, unsigned, "v2")
        assert skopeo_pull(clients, f"{host}/{repo}:v2", tmp_path / "d").returncode == 0
        drop_policy(server)


def sigstore_policy(directory: Path, host: str, repo: str) -> tuple[Path, Path]:
    """A containers policy that requires a cosign signature by KEY for ``repo``, and a
    registries.d telling skopeo to read cosign's signature tags there."""
    key_data = base64.b64encode(public_pem(KEY).encode()).decode()
    policy = directory / "policy.json"
    policy.write_text(json.dumps({
        "default": [{"type": "reject"}],
        "transports": {"docker": {f"{host}/{repo}": [{
            "type": "sigstoreSigned", "keyData": key_data,
            "signedIdentity": {"type": "matchRepository"},
        }]}},
    }))  # fmt: skip
    registries_d = directory / "registries.d"
    registries_d.mkdir()
    (registries_d / "dockyard.yaml").write_text(
        f"docker:\n  {host}:\n    use-sigstore-attachments: true\n"
    )
    return policy, registries_d


def test_skopeo_verifies_the_cosign_signatures_the_tests_make(
    clients: Clients, server: RunningServer, tmp_path: Path
) -> None:
    repo, host = f"{PROJECT}/crosscheck", host_of(server)
    good, tampered = make_image([{"a": b"good\n"}]), make_image([{"a": b"tampered\n"}])
    policy, registries_d = sigstore_policy(tmp_path, host, repo)
    skopeo = require_tool("skopeo")
    with server.client(auth=ADMIN) as registry:
        push(registry, repo, good, "good")
        push(registry, repo, tampered, "tampered")
        push_cosign_signature(registry, repo, good.digest, KEY, docker_reference=f"{host}/{repo}")
        wrong = simple_signing_payload(tampered.digest, f"{host}/evil")
        push_cosign_signature(registry, repo, tampered.digest, KEY, payload=wrong,
                              docker_reference=f"{host}/{repo}")  # fmt: skip
    results = {}
    for tag in ("good", "tampered"):
        results[tag] = run(
            [skopeo, "--policy", str(policy), "--registries.d", str(registries_d), "copy",
             NO_TLS, CREDS, f"docker://{host}/{repo}:{tag}", f"dir:{tmp_path / tag}"],
            env=clients.env, check=False,
        )  # fmt: skip
    if "sigstore disabled" in results["good"].stderr:  # Debian builds skopeo without it
        pytest.skip("this skopeo is built with sigstore verification disabled")
    assert results["good"].returncode == 0, results["good"].stderr
    assert results["tampered"].returncode != 0
    assert "signature" in results["tampered"].stderr.lower()
    set_policy(server)  # and dockyard agrees with skopeo
    with server.client(auth=ADMIN) as registry:
        accept = {"Accept": OCI_MANIFEST}
        assert registry.get(f"/v2/{repo}/manifests/good", headers=accept).status_code == 200
        assert registry.get(f"/v2/{repo}/manifests/tampered", headers=accept).status_code == 403
    drop_policy(server)
