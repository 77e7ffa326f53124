"""dockyard as the Docker token issuer (``dockyard.token``), against a real server process.

Challenges, the ``/token`` endpoint (GET and the OAuth2 POST form), every kind of bad token,
scope intersection, refresh tokens, JWKS, key rotation on a running server, and podman/skopeo
following the Bearer challenge on their own.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.auth.token_jwk import public_jwk
from dockyard.auth.token_keys import KeyRing
from e2e.clientkit import Clients, OciLayout, access_log, auth_refused, host_of, write_htpasswd
from e2e.clientkit import make_image as make_layout_image
from support.oci import assert_oci_error, make_image, push_blob, push_image, sha256
from support.server import RunningServer, serving
from support.tokens import (
    claims,
    ec_key,
    forge_hs256,
    forge_none,
    load_private_keys,
    make_cert,
    mint,
    public_pem,
    repo_access,
    unverified,
)

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
SERVICE = "dockyard"


def issuer_env(htpasswd: Path, **extra: str) -> dict[str, str]:
    return {
        "REGISTRY_AUTH": "htpasswd",
        "REGISTRY_AUTH_HTPASSWD_REALM": "dockyard-test",
        "REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd),
        "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true",
        "REGISTRY_STORAGE_DELETE_ENABLED": "true",
        **extra,
    }


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_htpasswd(tmp_path_factory.mktemp("users") / "htpasswd", USERS)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory, htpasswd: Path) -> Iterator[RunningServer]:
    with serving(tmp_path_factory.mktemp("issuer"), env=issuer_env(htpasswd)) as server:
        yield server


def key_dir(server: RunningServer) -> Path:
    return server.data_dir / "dockyard" / "token-keys"


def get_token(
    server: RunningServer, *scopes: str, user: str | None = "alice", **params: str
) -> dict[str, Any]:
    auth = (user, USERS[user]) if user else None
    query: list[tuple[str, str]] = [("service", SERVICE), *(("scope", s) for s in scopes)]
    query += list(params.items())
    response = httpx.get(f"{server.url}/token", params=query, auth=auth, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge(server: RunningServer, scope: str = "", error: str = "") -> str:
    value = f'Bearer realm="{server.url}/token",service="{SERVICE}"'
    if scope:
        value += f',scope="{scope}"'
    if error:
        value += f',error="{error}"'
    return value


def assert_challenge(response: httpx.Response, expected: str) -> None:
    assert_oci_error(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == expected


ROUTES = [
    ("GET", "/v2/", ""),
    ("GET", "/v2/_catalog", "registry:catalog:*"),
    ("GET", "/v2/team/app/tags/list", "repository:team/app:pull"),
    ("HEAD", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
    ("GET", "/v2/team/app/manifests/v1", "repository:team/app:pull"),
    ("PUT", "/v2/team/app/manifests/v1", "repository:team/app:pull,push"),
    ("DELETE", "/v2/team/app/manifests/v1", "repository:team/app:delete"),
    ("GET", f"/v2/team/app/blobs/{sha256(b'x')}", "repository:team/app:pull"),
    ("DELETE", f"/v2/team/app/blobs/{sha256(b'x')}", "repository:team/app:delete"),
    ("POST", "/v2/team/app/blobs/uploads/", "repository:team/app:pull,push"),
    ("PATCH", "/v2/team/app/blobs/uploads/some-id", "repository:team/app:pull,push"),
    ("DELETE", "/v2/team/app/blobs/uploads/some-id", "repository:team/app:pull,push"),
    ("GET", f"/v2/team/app/referrers/{sha256(b'x')}", "repository:team/app:pull"),
    (
        "POST",
        f"/v2/team/app/blobs/uploads/?mount={sha256(b'x')}&from=team/base",
        "repository:team/app:pull,push repository:team/base:pull",
    ),
    (
        "POST",
        f"/v2/team/app/blobs/uploads/?mount={sha256(b'x')}&from=team/app",
        "repository:team/app:pull,push",
    ),
]


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_challenge_names_the_scope_the_request_needs(
    issuer: RunningServer, method: str, path: str, scope: str
) -> None:
    with issuer.client() as client:
        response = client.request(method, path)
    if method == "HEAD":
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == challenge(issuer, scope)
        return
    assert_challenge(response, challenge(issuer, scope))


def test_basic_credentials_do_not_open_v2_in_token_mode(issuer: RunningServer) -> None:
    with issuer.client(auth=("alice", USERS["alice"])) as client:
        assert_challenge(client.get("/v2/"), challenge(issuer))
        garbage = client.get("/v2/", headers={"Authorization": "Bearer"})
        assert_challenge(garbage, challenge(issuer))


def test_token_response_and_claims(issuer: RunningServer) -> None:
    response = httpx.get(
        f"{issuer.url}/token",
        params={"service": SERVICE, "scope": "repository:team/app:pull,push"},
        auth=("alice", USERS["alice"]),
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    assert "refresh_token" not in body
    header, payload = unverified(body["token"])
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    assert payload["iss"] == "dockyard" and payload["aud"] == SERVICE
    assert payload["sub"] == "alice" and payload["jti"]
    assert payload["nbf"] <= payload["iat"] < payload["exp"] == payload["iat"] + 300
    assert payload["access"] == repo_access("team/app", "pull", "push")
    jwks = httpx.get(f"{issuer.url}/token/jwks.json").json()
    assert [key["kid"] for key in jwks["keys"]] == [header["kid"]]
    key = jwks["keys"][0]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key
    signing_key = load_private_keys(key_dir(issuer))[0]
    expected = public_jwk(signing_key.public_key())
    assert key == {**expected, "kid": header["kid"], "alg": "ES256", "use": "sig"}


def test_push_pull_delete_with_tokens(issuer: RunningServer) -> None:
    image = make_image()
    writer = get_token(issuer, "repository:tok/app:pull,push")["token"]
    with issuer.client(headers=bearer(writer)) as client:
        assert client.get("/v2/").status_code == 200
        push_image(client, "tok/app", image, tag="v1")
    reader = get_token(issuer, "repository:tok/app:pull", user="bob")["token"]
    with issuer.client(headers=bearer(reader)) as client:
        assert client.get("/v2/tok/app/manifests/v1").content == image.manifest
        assert client.get("/v2/tok/app/tags/list").json()["tags"] == ["v1"]
    lister = get_token(issuer, "registry:catalog:*")["token"]
    with issuer.client(headers=bearer(lister)) as client:
        assert "tok/app" in client.get("/v2/_catalog").json()["repositories"]
    deleter = get_token(issuer, "repository:tok/app:delete")["token"]
    with issuer.client(headers=bearer(deleter)) as client:
        assert client.delete(f"/v2/tok/app/manifests/{image.digest}").status_code == 202


def test_mount_needs_pull_on_the_source_as_registry_2(issuer: RunningServer) -> None:
    """A mount's challenge names the source repository, so a client that follows it mounts."""
    layer = b"layer shared by two repositories"
    source = get_token(issuer, "repository:mnt/base:pull,push")["token"]
    with issuer.client(headers=bearer(source)) as client:
        assert push_blob(client, "mnt/base", layer).status_code == 201
    mount = f"/v2/mnt/app/blobs/uploads/?mount={sha256(layer)}&from=mnt/base"
    both = "repository:mnt/app:pull,push repository:mnt/base:pull"
    target_only = get_token(issuer, "repository:mnt/app:pull,push")["token"]
    with issuer.client(headers=bearer(target_only)) as client:
        refused = client.post(mount)
        assert_challenge(refused, challenge(issuer, both, "insufficient_scope"))
        assert client.head(f"/v2/mnt/app/blobs/{sha256(layer)}").status_code == 404
    scopes = both.split(" ")
    with issuer.client(headers=bearer(get_token(issuer, *scopes)["token"])) as client:
        mounted = client.post(mount)
        assert mounted.status_code == 201, mounted.text
        assert mounted.headers["docker-content-digest"] == sha256(layer)
        assert client.get(f"/v2/mnt/app/blobs/{sha256(layer)}").content == layer


def _own_key(server: RunningServer) -> tuple[Any, str]:
    key = load_private_keys(key_dir(server))[-1]
    kid = unverified(get_token(server)["token"])[0]["kid"]
    return key, kid


FOREIGN_KID = "ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ:ZZZZ"


def _forged(kind: str, server: RunningServer) -> str:
    key, kid = _own_key(server)
    access = repo_access("team/app", "pull")
    good = claims(access=access)
    attacker = ec_key()
    attacker_cert = make_cert("attacker")
    forgeries: dict[str, Callable[[], str]] = {
        "alg-none": lambda: forge_none(good, kid),
        "hs256-public-key-pem": lambda: forge_hs256(good, public_pem(key), kid),
        "foreign-kid": lambda: mint(good, attacker, kid=FOREIGN_KID),
        "our-kid-foreign-key": lambda: mint(good, attacker, kid=kid),
        "embedded-jwk": lambda: mint(
            good, attacker, kid=kid, headers={"jwk": public_jwk(attacker.public_key())}
        ),
        "jku-header": lambda: mint(
            good, key, kid=kid, headers={"jku": "http://127.0.0.1:1/jwks.json"}
        ),
        "x5c-header": lambda: mint(
            good, attacker_cert.key, headers={"x5c": [attacker_cert.der_b64]}
        ),
        "wrong-aud": lambda: mint(claims(audience="other", access=access), key, kid=kid),
        "wrong-iss": lambda: mint(claims(issuer="evil", access=access), key, kid=kid),
        "expired": lambda: mint(
            claims(now=time.time() - 3600, lifetime=300, access=access), key, kid=kid
        ),
        "nbf-future": lambda: mint(dict(good, nbf=int(time.time()) + 300), key, kid=kid),
        "deeply-nested-header": lambda: _deep_header(mint(good, key, kid=kid)),
    }
    return forgeries[kind]()


def _deep_header(token: str) -> str:
    """``token`` with a header nested 1000 levels deep (once a RecursionError, so a 500)."""
    deep = b'{"alg":"ES256","x":' + b"[" * 1000 + b"]" * 1000 + b"}"
    header = base64.urlsafe_b64encode(deep).rstrip(b"=").decode()
    return header + token[token.index(".") :]


BAD_TOKENS = [
    "alg-none",
    "hs256-public-key-pem",
    "foreign-kid",
    "our-kid-foreign-key",
    "embedded-jwk",
    "jku-header",
    "x5c-header",
    "wrong-aud",
    "wrong-iss",
    "expired",
    "nbf-future",
    "deeply-nested-header",
]


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_tokens_are_refused(issuer: RunningServer, kind: str) -> None:
    token = _forged(kind, issuer)
    with issuer.client(headers=bearer(token)) as client:
        response = client.get("/v2/team/app/tags/list")
    expected = challenge(issuer, "repository:team/app:pull", "invalid_token")
    assert_challenge(response, expected)
    assert token not in issuer.log()


def test_self_minted_good_token_is_accepted(issuer: RunningServer) -> None:
    """The control for the forgeries above: same claims, our key, no tricks."""
    key, kid = _own_key(issuer)
    token = mint(claims(access=repo_access("team/app", "pull")), key, kid=kid)
    with issuer.client(headers=bearer(token)) as client:
        assert_oci_error(client.get("/v2/team/app/tags/list"), 404, "NAME_UNKNOWN")


def test_token_for_one_repository_does_not_open_another(issuer: RunningServer) -> None:
    token = get_token(issuer, "repository:team/a:pull,push")["token"]
    with issuer.client(headers=bearer(token)) as client:
        response = client.get("/v2/team/b/tags/list")
        expected = challenge(issuer, "repository:team/b:pull", "insufficient_scope")
        assert_challenge(response, expected)
        upload = client.post("/v2/team/b/blobs/uploads/")
        needed = challenge(issuer, "repository:team/b:pull,push", "insufficient_scope")
        assert_challenge(upload, needed)


def test_pull_token_cannot_push_or_delete(issuer: RunningServer) -> None:
    image = make_image()
    writer = get_token(issuer, "repository:ro/app:pull,push")["token"]
    with issuer.client(headers=bearer(writer)) as client:
        push_image(client, "ro/app", image, tag="v1")
    reader = get_token(issuer, "repository:ro/app:pull")["token"]
    insufficient = "insufficient_scope"
    with issuer.client(headers=bearer(reader)) as client:
        assert client.get("/v2/ro/app/manifests/v1").status_code == 200
        push_scope = challenge(issuer, "repository:ro/app:pull,push", insufficient)
        assert_challenge(client.post("/v2/ro/app/blobs/uploads/"), push_scope)
        put = client.put(
            "/v2/ro/app/manifests/v2",
            content=image.manifest,
            headers={"Content-Type": image.media_type},
        )
        assert_challenge(put, push_scope)
        delete_scope = challenge(issuer, "repository:ro/app:delete", insufficient)
        assert_challenge(client.delete("/v2/ro/app/manifests/v1"), delete_scope)
        blob = f"/v2/ro/app/blobs/{sha256(image.config)}"
        assert_challenge(client.delete(blob), delete_scope)
        catalog = challenge(issuer, "registry:catalog:*", insufficient)
        assert_challenge(client.get("/v2/_catalog"), catalog)


def test_anonymous_token_grants_nothing_when_login_is_required(issuer: RunningServer) -> None:
    body = get_token(issuer, "repository:team/app:pull", user=None)
    assert unverified(body["token"])[1]["access"] == []
    assert body["scope"] == ""
    with issuer.client(headers=bearer(body["token"])) as client:
        assert client.get("/v2/").status_code == 200
        denied = client.get("/v2/team/app/tags/list")
        needed = challenge(issuer, "repository:team/app:pull", "insufficient_scope")
        assert_challenge(denied, needed)


def test_token_endpoint_errors(issuer: RunningServer) -> None:
    url = f"{issuer.url}/token"
    wrong = httpx.get(url, params={"service": SERVICE}, auth=("alice", "nope"))
    assert_oci_error(wrong, 401, "UNAUTHORIZED")
    assert wrong.headers["www-authenticate"] == 'Basic realm="dockyard-test"'
    garbage = httpx.get(url, headers={"Authorization": "Basic !!!"})
    assert_oci_error(garbage, 401, "UNAUTHORIZED")
    assert_oci_error(httpx.get(url, params={"service": "other"}), 400, "UNSUPPORTED")
    form = {"grant_type": "password", "username": "alice", "password": "nope"}
    assert_oci_error(httpx.post(url, data=form), 401, "UNAUTHORIZED")
    assert_oci_error(httpx.post(url, data={"grant_type": "magic"}), 400, "UNSUPPORTED")
    assert_oci_error(httpx.post(url, content=b"{}"), 400, "UNSUPPORTED")
    assert_oci_error(httpx.put(url), 405, "UNSUPPORTED")
    assert "alice-pw" not in issuer.log() and "nope" not in issuer.log()


def test_oauth_password_grant(issuer: RunningServer) -> None:
    form = {
        "grant_type": "password",
        "username": "bob",
        "password": USERS["bob"],
        "service": SERVICE,
        "client_id": "dockyard-tests",
        "scope": "repository:oauth/app:pull repository:oauth/app:push",
    }
    body = httpx.post(f"{issuer.url}/token", data=form).json()
    assert body["scope"] == "repository:oauth/app:pull,push"
    assert "refresh_token" not in body
    assert unverified(body["access_token"])[1]["sub"] == "bob"


@pytest.fixture
def own_issuer(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    users = write_htpasswd(tmp_path / "htpasswd", USERS)
    with serving(tmp_path, env=issuer_env(users)) as server:
        yield server, users


def test_refresh_tokens(own_issuer: tuple[RunningServer, Path]) -> None:
    server, users = own_issuer
    url = f"{server.url}/token"
    first = get_token(server, offline_token="true", client_id="tests")
    refresh = first["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": SERVICE}
    again = httpx.post(url, data={**form, "scope": "repository:fresh/app:pull,push"}).json()
    assert again["refresh_token"] == refresh
    assert again["scope"] == "repository:fresh/app:pull,push"
    with server.client(headers=bearer(again["access_token"])) as client:
        push_image(client, "fresh/app", make_image(), tag="v1")
    with server.client(headers=bearer(refresh)) as client:
        invalid = challenge(server, "repository:fresh/app:pull", "invalid_token")
        assert_challenge(client.get("/v2/fresh/app/tags/list"), invalid)
    password_form = {"grant_type": "password", "username": "alice", "password": USERS["alice"]}
    offline = httpx.post(url, data={**password_form, "access_type": "offline"}).json()
    assert offline["refresh_token"]
    write_htpasswd(users, {"alice": "changed", "bob": USERS["bob"]})
    revoked = httpx.post(url, data=form)
    assert_oci_error(revoked, 401, "UNAUTHORIZED")
    bogus = httpx.post(url, data={**form, "refresh_token": first["token"]})
    assert_oci_error(bogus, 401, "UNAUTHORIZED")


def _wait_for(predicate: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_key_rotation_on_a_running_server(own_issuer: tuple[RunningServer, Path]) -> None:
    server, _ = own_issuer
    old = get_token(server, "repository:rot/app:pull")["token"]
    old_kid = unverified(old)[0]["kid"]
    ring = KeyRing(str(key_dir(server)))
    new_kid = ring.rotate().kid

    def signs_with_new_key() -> bool:
        return unverified(get_token(server)["token"])[0]["kid"] == new_kid

    _wait_for(signs_with_new_key)
    new = get_token(server, "repository:rot/app:pull")["token"]
    jwks = httpx.get(f"{server.url}/token/jwks.json").json()
    assert [key["kid"] for key in jwks["keys"]] == [old_kid, new_kid]
    with server.client() as client:
        for token in (old, new):
            response = client.get("/v2/rot/app/tags/list", headers=bearer(token))
            assert_oci_error(response, 404, "NAME_UNKNOWN")
        assert ring.retire(old_kid)

        def old_token_refused() -> bool:
            return client.get("/v2/", headers=bearer(old)).status_code == 401

        _wait_for(old_token_refused)
        assert client.get("/v2/", headers=bearer(new)).status_code == 200
    jwks = httpx.get(f"{server.url}/token/jwks.json").json()
    assert [key["kid"] for key in jwks["keys"]] == [new_kid]


def test_anonymous_pull_with_scope_intersection(tmp_path: Path, htpasswd: Path) -> None:
    env = issuer_env(htpasswd, REGISTRY_DOCKYARD_TOKEN_ANONYMOUSPULL="true")
    with serving(tmp_path, env=env) as server:
        writer = get_token(server, "repository:pub/app:pull,push")["token"]
        image = make_image()
        with server.client(headers=bearer(writer)) as client:
            push_image(client, "pub/app", image, tag="v1")
        asked = ["repository:pub/app:pull,push,delete", "registry:catalog:*", "bogus:x:y"]
        anonymous = get_token(server, *asked, user=None)
        assert anonymous["scope"] == "repository:pub/app:pull"
        assert unverified(anonymous["token"])[1]["access"] == repo_access("pub/app", "pull")
        with server.client(headers=bearer(anonymous["token"])) as client:
            assert client.get("/v2/pub/app/manifests/v1").content == image.manifest
            denied = client.post("/v2/pub/app/blobs/uploads/")
            needed = challenge(server, "repository:pub/app:pull,push", "insufficient_scope")
            assert_challenge(denied, needed)
        with server.client() as client:
            no_token = client.get("/v2/pub/app/manifests/v1")
            assert_challenge(no_token, challenge(server, "repository:pub/app:pull"))


@pytest.mark.clients
def test_podman_and_skopeo_follow_the_token_flow(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, issuer: RunningServer
) -> None:
    clients = Clients(tmp_path_factory.mktemp("clients"))  # podman wants a short runroot
    host, no_tls = host_of(issuer), "--tls-verify=false"
    layout = OciLayout(tmp_path / "layout")
    layout.add_image(make_layout_image([{"etc/motd": b"issued by dockyard\n"}]), "v1")
    image_id = clients.podman("pull", "-q", f"oci:{layout.path}:v1").stdout.split()[-1]
    login = clients.podman(
        "login", no_tls, "--username", "alice", "--password-stdin", host,
        input_text=USERS["alice"] + "\n",
    )  # fmt: skip
    assert "Login Succeeded" in login.stdout, login.stdout + login.stderr
    assert host in json.loads(clients.authfile.read_text())["auths"]
    clients.podman("push", no_tls, image_id, f"{host}/podman/app:v1")
    clients.podman("rmi", "-a", "-f")
    clients.podman("pull", no_tls, f"{host}/podman/app:v1")
    inspected = clients.skopeo(
        "inspect", no_tls, "--creds", f"bob:{USERS['bob']}", f"docker://{host}/podman/app:v1"
    )
    assert json.loads(inspected.stdout)["Name"] == f"{host}/podman/app"
    clients.podman("logout", host)
    anonymous = clients.podman("pull", no_tls, f"{host}/podman/app:v1", check=False)
    assert auth_refused(anonymous), anonymous.stderr
    records = access_log(issuer)
    assert any(r["route"] == "token" and r["user"] == "alice" for r in records)
    assert any(r["route"] == "token" and r["user"] == "bob" for r in records)
    pushed = [r for r in records if r["route"] == "manifest" and r["method"] == "PUT"]
    assert pushed and all(r["user"] == "alice" and r["status"] == 201 for r in pushed)
    assert USERS["alice"] not in issuer.log()
