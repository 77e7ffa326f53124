"""OIDC logins against a real server process and the loopback test provider: ID tokens as
HTTP Basic passwords and at ``/token``, groups mapped to project roles, the management API
(and the CLI secret: a personal access token made with an ID token), bad tokens, a provider
outage and a key rotation, all answered with the OCI error envelope."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.identity import Api, identity_server
from support.oci import assert_oci_error, make_image, push_image
from support.oidc import TestProvider, oidc_env, oidc_provider, rsa_key
from support.server import RunningServer

MAPPINGS = (
    "[{group: devs, project: team, role: developer}, {group: readers, project: team, role: guest}]"
)


def server_env(provider: TestProvider, **extra: str) -> dict[str, str]:
    return oidc_env(provider, groupmappings=MAPPINGS, admingroups="[ops]", **extra)


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    with oidc_provider() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, provider: TestProvider
) -> Iterator[RunningServer]:
    env = {**server_env(provider), "REGISTRY_DOCKYARD_IDENTITY_LOGINATTEMPTS": "100"}
    with identity_server(tmp_path_factory.mktemp("oidc"), **env) as running:
        with Api(running) as admin:
            admin.project("team")
        yield running


def basic(user: str, token: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(user, token)


def test_id_tokens_log_in_with_basic_and_groups_grant_roles(
    server: RunningServer, provider: TestProvider
) -> None:
    image = make_image()
    with server.client(auth=basic("dana", provider.mint("dana", groups=["devs"]))) as dev:
        push_image(dev, "team/app", image, tag="v1")
    with server.client(auth=basic("rita", provider.mint("rita", groups=["readers"]))) as reader:
        assert reader.get("/v2/team/app/manifests/v1").content == image.manifest
        denied = reader.post("/v2/team/app/blobs/uploads/")
        assert_oci_error(denied, 403, "DENIED")
    with server.client(auth=basic("sam", provider.mint("sam", groups=["strangers"]))) as other:
        assert other.get("/v2/").status_code == 200
        assert_oci_error(other.get("/v2/team/app/manifests/v1"), 403, "DENIED")
    with Api(server) as admin:
        user = admin.ok("GET", "/users/dana")
        assert user["source"] == "oidc"


BAD: dict[str, Callable[[TestProvider], str]] = {
    "wrong audience": lambda p: p.mint("dana", aud="someone-else"),
    "wrong issuer": lambda p: p.mint("dana", iss="http://127.0.0.1:9"),
    "expired": lambda p: p.mint("dana", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "unknown key": lambda p: p.mint("dana", key=rsa_key()),
    "another user's token": lambda p: p.mint("erin"),
    "not a token": lambda p: "dana-password",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_tokens_get_401(server: RunningServer, provider: TestProvider, kind: str) -> None:
    token = BAD[kind](provider)
    with server.client(auth=basic("dana", token)) as client:
        refused = client.get("/v2/")
        assert_oci_error(refused, 401, "UNAUTHORIZED")
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert token not in refused.text
    assert token not in server.log()


def test_cli_secret_from_an_id_token(server: RunningServer, provider: TestProvider) -> None:
    """An ID token opens ``/api/v1``; the personal access token made there is the CLI secret
    that keeps working after the ID token expires."""
    with Api(server, ("dana", provider.mint("dana", groups=["devs"]))) as dana:
        assert dana.ok("GET", "/me")["name"] == "dana"
        made = dana.ok("POST", "/tokens", 201, json={"name": "laptop"})
    secret = made["secret"]
    image = make_image()
    with server.client(auth=basic("dana", secret)) as client:
        push_image(client, "team/cli", image, tag="v1")
    with server.client(headers={"Authorization": f"Bearer {secret}"}) as api:
        assert api.get("/api/v1/me").json()["name"] == "dana"
    expired = provider.mint("dana", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)
    with Api(server, ("dana", expired)) as late:
        assert_oci_error(late.http.get("/me"), 401, "UNAUTHORIZED")


def test_admin_group_opens_the_management_api(
    server: RunningServer, provider: TestProvider
) -> None:
    with Api(server, ("olga", provider.mint("olga", groups=["ops"]))) as olga:
        assert any(u["name"] == "admin" for u in olga.ok("GET", "/users")["items"])
    with Api(server, ("olga", provider.mint("olga", groups=[], jti="2"))) as demoted:
        assert_oci_error(demoted.http.get("/users"), 403, "DENIED")


def eventually(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """``check()`` once it stops raising AssertionError (the provider is asked at most once
    per refresh interval, one second in these tests)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_key_rotation_at_the_provider(server: RunningServer, provider: TestProvider) -> None:
    old_signer, old_published = provider.signer, provider.published
    provider.rotate()
    try:
        token = provider.mint("dana", groups=["devs"])

        def logged_in() -> None:
            with server.client(auth=basic("dana", token)) as client:
                assert client.get("/v2/").status_code == 200

        eventually(logged_in)
    finally:
        provider.signer, provider.published = old_signer, old_published


def test_provider_outage_gives_503_and_recovers(tmp_path: Path) -> None:
    provider = TestProvider()  # not started yet: nothing listens on its port
    with identity_server(tmp_path, **server_env(provider)) as server:
        token = provider.mint("dana")
        with server.client(auth=basic("dana", token)) as client:
            down = client.get("/v2/")
            assert_oci_error(down, 503, "UNAVAILABLE")
            assert "identity provider" in down.json()["errors"][0]["message"]
            provider.start()
            try:
                eventually(lambda: _status(client, 200))
            finally:
                provider.stop()
            assert "Traceback" not in server.log()


def _status(client: httpx.Client, expected: int) -> None:
    response = client.get("/v2/")
    assert response.status_code == expected, response.text


def test_token_service_accepts_id_tokens(tmp_path: Path, provider: TestProvider) -> None:
    env = {**server_env(provider), "REGISTRY_DOCKYARD_TOKEN_ENABLED": "true"}
    with identity_server(tmp_path, **env) as server:
        with Api(server) as admin:
            admin.project("team")
        id_token = provider.mint("dana", groups=["devs"])
        scope = "repository:team/app:pull,push"
        granted = _token(server, scope, basic("dana", id_token))
        assert granted.status_code == 200, granted.text
        bearer = {"Authorization": f"Bearer {granted.json()['token']}"}
        with server.client(headers=bearer) as client:
            push_image(client, "team/app", make_image(), tag="v1")
        refused = _token(server, scope, basic("dana", provider.mint("dana", aud="x")))
        assert_oci_error(refused, 401, "UNAUTHORIZED")


def _token(server: RunningServer, scope: str, auth: httpx.BasicAuth) -> httpx.Response:
    params = {"service": "dockyard", "scope": scope}
    return httpx.get(f"{server.url}/token", params=params, auth=auth, timeout=30)
