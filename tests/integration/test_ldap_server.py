"""LDAP users against real servers: a slapd made by the test (StartTLS with the test's CA) and
``dockyard serve`` configured only through REGISTRY_DOCKYARD_IDENTITY_LDAP_* variables.

HTTP Basic on /v2 and on the management API, bearer tokens from dockyard's token service,
LDAP groups mapped to project roles (alice: developers -> push; bob: readers -> pull; carol:
no group; erin: registry-admins -> system administrator), one 401 for every wrong credential,
audit entries, and a 503 while the directory is down. podman and skopeo log in through the
bearer flow as LDAP users.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.identity import Api, identity_server
from support.ldap import (
    GROUPS,
    PASSWORDS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Slapd,
    running_slapd,
)
from support.oci import assert_oci_error, make_image, push_image
from support.server import RunningServer

ENV = "REGISTRY_DOCKYARD_IDENTITY_LDAP_"
ALICE, BOB, CAROL, ERIN = (("alice", PASSWORDS["alice"]), ("bob", PASSWORDS["bob"]),
                           ("carol", PASSWORDS["carol"]), ("erin", PASSWORDS["erin"]))  # fmt: skip


def ldap_env(slapd: Slapd) -> dict[str, str]:
    return {
        f"{ENV}URL": slapd.url, f"{ENV}STARTTLS": "true", f"{ENV}CACERTIFICATE": str(slapd.tls.ca),
        f"{ENV}BINDDN": SERVICE_DN, f"{ENV}BINDPASSWORD": SERVICE_PASSWORD,
        f"{ENV}USERSEARCHBASE": PEOPLE, f"{ENV}GROUPSEARCHBASE": GROUPS, f"{ENV}TIMEOUT": "5s",
        f"{ENV}GROUPMAPPINGS_0_GROUP": "developers", f"{ENV}GROUPMAPPINGS_0_PROJECT": "team",
        f"{ENV}GROUPMAPPINGS_0_ROLE": "developer",
        f"{ENV}GROUPMAPPINGS_1_GROUP": "readers", f"{ENV}GROUPMAPPINGS_1_PROJECT": "team",
        f"{ENV}GROUPMAPPINGS_1_ROLE": "guest",
        f"{ENV}ADMINGROUPS_0": "registry-admins",
        "REGISTRY_DOCKYARD_IDENTITY_LOGINATTEMPTS": "1000",
    }  # fmt: skip


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, slapd: Slapd) -> Iterator[RunningServer]:
    """HTTP Basic on /v2 (no token service)."""
    with identity_server(tmp_path_factory.mktemp("ldap-basic"), **ldap_env(slapd)) as server:
        with Api(server) as admin:
            admin.project("team")
        yield server


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory, slapd: Slapd) -> Iterator[RunningServer]:
    """dockyard's own token service on."""
    env = ldap_env(slapd) | {"REGISTRY_DOCKYARD_TOKEN_ENABLED": "true"}
    with identity_server(tmp_path_factory.mktemp("ldap-token"), **env) as server:
        with Api(server) as admin:
            admin.project("team")
        yield server


def token(server: RunningServer, auth: tuple[str, str], *scopes: str) -> httpx.Response:
    params = [("service", "dockyard"), *(("scope", s) for s in scopes)]
    return httpx.get(server.url + "/token", params=params, auth=auth, timeout=30)


def test_basic_logins_follow_the_ldap_groups(registry: RunningServer) -> None:
    with registry.client(auth=ALICE) as alice:
        push_image(alice, "team/app", make_image(layers=1), tag="v1")
    with registry.client(auth=BOB) as bob:
        assert bob.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
        assert_oci_error(bob.post("/v2/team/app/blobs/uploads/"), 403, "DENIED")
    with registry.client(auth=CAROL) as carol:
        assert carol.get("/v2/").status_code == 200  # a valid login...
        assert carol.get("/v2/team/app/tags/list").status_code in (403, 404)  # ...no role
    with Api(registry, ERIN) as erin:  # a system administrator through registry-admins
        users = {u["name"]: u for u in erin.ok("GET", "/users")["items"]}
    assert users["alice"]["source"] == "ldap" and users["erin"]["admin"]
    assert users["alice"]["email"] == "alice@dockyard.test"
    with registry.client(auth=("ALICE", ALICE[1])) as shouting:  # the directory ignores case
        assert shouting.get("/v2/team/app/tags/list").json()["tags"] == ["v1"]
        assert shouting.post("/v2/team/app/blobs/uploads/").status_code == 202  # alice's role
    with Api(registry, ERIN) as erin:
        names = {u["name"] for u in erin.ok("GET", "/users")["items"]}
    assert "alice" in names and "ALICE" not in names  # one account


def test_every_wrong_credential_gets_the_same_401_and_is_audited(registry: RunningServer) -> None:
    answers = []
    for auth in (("alice", "wrong-password"), ("nobody", "whatever"), ("*)(uid=*", ALICE[1]),
                 ("*", ALICE[1]), ("alice", ""), ("ALICE", "wrong-password"),
                 ("alice", "wrong\x00\t\x7f")):  # fmt: skip
        with registry.client(auth=auth) as client:
            response = client.get("/v2/")
        entry = assert_oci_error(response, 401, "UNAUTHORIZED")
        answers.append((entry["message"], response.headers["www-authenticate"]))
    assert len(set(answers)) == 1, answers
    with Api(registry) as admin:
        query = {"event": "login", "outcome": "failure"}
        actors = {e["actor"] for e in admin.ok("GET", "/audit", params=query)["items"]}
        assert {"alice", "nobody", "*)(uid=*", "*", "ALICE"} <= actors
        successes = admin.ok("GET", "/audit", params={"event": "login", "actor": "bob"})
        assert successes["items"] and successes["items"][0]["outcome"] == "success"
        assert "nobody" not in {u["name"] for u in admin.ok("GET", "/users")["items"]}
    assert ALICE[1] not in registry.log() and SERVICE_PASSWORD not in registry.log()


def test_token_scopes_follow_the_ldap_groups(issuer: RunningServer) -> None:
    asked = ("repository:team/app:pull,push,delete",)
    for auth, scope in ((ALICE, "repository:team/app:pull,push"),
                        (BOB, "repository:team/app:pull"), (CAROL, ""),
                        (ERIN, "repository:team/app:pull,push,delete")):  # fmt: skip
        assert token(issuer, auth, *asked).json()["scope"] == scope, auth[0]
    for auth in (("alice", "wrong-password"), ("nobody", "whatever"), ("alice", "")):
        assert_oci_error(token(issuer, auth, *asked), 401, "UNAUTHORIZED")
    granted = token(issuer, ALICE, "repository:team/app:pull,push").json()["token"]
    with issuer.client(headers={"Authorization": f"Bearer {granted}"}) as client:
        push_image(client, "team/app", make_image(layers=1), tag="from-token")


def test_directory_down_is_a_503_not_a_401(registry: RunningServer, slapd: Slapd) -> None:
    slapd.stop()
    try:
        for auth in (("alice", "a-password-never-tried"), ("dave", "whatever")):
            with registry.client(auth=auth) as client:
                response = client.get("/v2/")
                assert_oci_error(response, 503, "UNAVAILABLE")
                assert response.headers["retry-after"] == "5"
        with Api(registry) as admin:  # local users still log in
            query = {"event": "login", "actor": "dave"}
            (event,) = admin.ok("GET", "/audit", params=query)["items"]
            assert event["outcome"] == "failure"
    finally:
        slapd.start()
    assert "Traceback" not in registry.log()
    with registry.client(auth=("dave", "whatever")) as client:  # back: an ordinary 401
        assert_oci_error(client.get("/v2/"), 401, "UNAUTHORIZED")


@pytest.mark.clients
def test_podman_and_skopeo_log_in_as_ldap_users(
    issuer: RunningServer, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from e2e.clientkit import Clients, OciLayout, host_of
    from e2e.clientkit import make_image as make_layout_image

    clients = Clients(tmp_path_factory.mktemp("lc"))
    host, no_tls = host_of(issuer), "--tls-verify=false"
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_layout_image([{"etc/motd": b"pushed by an LDAP user\n"}]), "v1")
    image_id = clients.podman("pull", "-q", f"oci:{layout.path}:v1").stdout.split()[-1]
    refused = clients.podman("login", no_tls, "--username", "alice", "--password-stdin", host,
                             input_text="wrong-password\n", check=False)  # fmt: skip
    assert refused.returncode != 0
    login = clients.podman("login", no_tls, "--username", "alice", "--password-stdin", host,
                           input_text=ALICE[1] + "\n")  # fmt: skip
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
    clients.podman("push", no_tls, image_id, f"{host}/team/ldap-app:v1")
    inspected = clients.skopeo("inspect", no_tls, "--creds", f"bob:{BOB[1]}",
                               f"docker://{host}/team/ldap-app:v1")  # fmt: skip
    assert json.loads(inspected.stdout)["Name"] == f"{host}/team/ldap-app"
    denied = clients.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"bob:{BOB[1]}",
                            f"oci:{layout.path}:v1", f"docker://{host}/team/bob-app:v1",
                            check=False)  # fmt: skip
    assert denied.returncode != 0
    assert ALICE[1] not in issuer.log() and BOB[1] not in issuer.log()
