"""podman and skopeo logging in with OIDC through dockyard's own token service (Bearer flow):
an ID token from the loopback test provider as the ``podman login`` password, and the CLI
secret (a personal access token made with the ID token) as skopeo's password."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.clientkit import Clients, OciLayout, access_log, auth_refused, host_of, make_image
from support.identity import Api, identity_server
from support.oidc import oidc_env, oidc_provider

pytestmark = pytest.mark.clients
NO_TLS = "--tls-verify=false"
MAPPINGS = (
    "[{group: devs, project: team, role: developer}, {group: readers, project: team, role: guest}]"
)


def test_podman_and_skopeo_log_in_with_oidc(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clients = Clients(tmp_path_factory.mktemp("clients"))  # podman wants a short runroot
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_image([{"etc/motd": b"pushed with an ID token\n"}]), "v1")
    with oidc_provider() as provider:
        env = {**oidc_env(provider, groupmappings=MAPPINGS),
               "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true"}  # fmt: skip
        with identity_server(tmp_path, **env) as server:
            with Api(server) as admin:
                admin.project("team")
            host = host_of(server)
            image_id = clients.podman("pull", "-q", f"oci:{layout.path}:v1").stdout.split()[-1]
            id_token = provider.mint("dana", groups=["devs"])
            login = clients.podman("login", NO_TLS, "--username", "dana", "--password-stdin",
                                   host, input_text=id_token + "\n")  # fmt: skip
            assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
            clients.podman("push", NO_TLS, image_id, f"{host}/team/app:v1")
            clients.podman("rmi", "-a", "-f")
            clients.podman("pull", NO_TLS, f"{host}/team/app:v1")
            clients.podman("logout", host)

            with Api(server, ("dana", id_token)) as dana:
                secret = dana.ok("POST", "/tokens", 201, json={"name": "ci"})["secret"]
            dest = f"docker://{host}/team/app:v2"
            clients.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"dana:{secret}",
                           f"oci:{layout.path}:v1", dest)  # fmt: skip
            reader = provider.mint("rita", groups=["readers"])
            inspected = clients.skopeo("inspect", NO_TLS, "--creds", f"rita:{reader}", dest)
            assert json.loads(inspected.stdout)["Name"] == f"{host}/team/app"
            refused = clients.skopeo("copy", "--dest-tls-verify=false", "--dest-creds",
                                     f"rita:{reader}", f"oci:{layout.path}:v1",
                                     f"docker://{host}/team/app:v3", check=False)  # fmt: skip
            assert refused.returncode != 0
            forged = clients.skopeo("inspect", NO_TLS, "--creds",
                                    f"dana:{provider.mint('dana', aud='other')}", dest,
                                    check=False)  # fmt: skip
            assert auth_refused(forged), forged.stderr
            records = access_log(server)
            tokens = {r["user"] for r in records if r["route"] == "token" and r["status"] == 200}
            assert {"dana", "rita"} <= tokens
            pushes = [r for r in records if r["route"] == "manifest" and r["method"] == "PUT"]
            assert {r["user"] for r in pushes if r["status"] == 201} == {"dana"}
            assert id_token not in server.log() and secret not in server.log()
