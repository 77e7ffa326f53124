"""Signing in to the web UI with an OpenID provider (authorization code with PKCE) against the
test provider: the whole round trip, and answers that do not belong to this browser's flow."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from support.identity import Api, identity_server
from support.oci import make_image, push_image
from support.oidc import CLIENT_ID, TestProvider, oidc_env, oidc_provider
from support.server import RunningServer

MAPPINGS = "[{group: devs, project: team, role: developer}]"


@pytest.fixture(scope="module")
def provider() -> Iterator[TestProvider]:
    with oidc_provider() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, provider: TestProvider
) -> Iterator[RunningServer]:
    env = oidc_env(provider, groupmappings=MAPPINGS)
    with identity_server(tmp_path_factory.mktemp("ui-oidc"), **env) as running:
        with Api(running) as admin:
            admin.project("team")
        with running.client(auth=("admin", "admin-password")) as pusher:
            push_image(pusher, "team/oidc-app", make_image(layers=1), "v1")
        yield running


def _start(browser: httpx.Client, next_page: str = "/") -> tuple[str, dict[str, str]]:
    """Ask the UI to sign in with the provider; (the authorization URL, its query)."""
    started = browser.get("/ui/oidc/start", params={"next": next_page})
    assert started.status_code == 303, started.text
    location = started.headers["location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _provider_answer(location: str) -> str:
    """What the provider redirects the browser back to (it signs the user in at once)."""
    answer = httpx.get(location, timeout=10)
    assert answer.status_code == 302
    return answer.headers["location"]


def test_signing_in_with_the_provider(server: RunningServer, provider: TestProvider) -> None:
    provider.authorize_as = "olga"
    provider.codes.clear()
    with server.client() as browser:
        assert 'href="/ui/oidc/start?next=/"' in browser.get("/ui/signin").text
        location, query = _start(browser, "/ui/repositories")
        assert location.startswith(provider.issuer + "/authorize?")
        assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert query["redirect_uri"] == f"{server.url}/ui/oidc/callback"
        assert set(query["scope"].split()) >= {"openid", "profile", "email"}
        back = _provider_answer(location)
        done = browser.get(back)
        assert done.status_code == 303 and done.headers["location"] == "/ui/repositories"
        assert "Signed in as <strong>olga</strong>" in browser.get("/").text
    with Api(server) as admin:
        users = {u["name"]: u for u in admin.ok("GET", "/users")["items"]}
        assert users["olga"]["source"] == "oidc"


def test_an_answer_for_another_flow_is_refused(
    server: RunningServer, provider: TestProvider
) -> None:
    provider.authorize_as = "olga"
    with server.client() as victim, server.client() as attacker:
        location, _ = _start(attacker)
        back = _provider_answer(location)  # the attacker's code, planted in the victim's browser
        refused = victim.get(back)
        assert refused.status_code == 403 and "not started from this browser" in refused.text
        assert "Signed in as" not in victim.get("/").text
        _start(victim)  # the victim's own flow, but the attacker's answer
        refused = victim.get(back)
        assert refused.status_code == 403 and "another sign-in" in refused.text
        assert "Signed in as" not in victim.get("/").text


def test_a_code_is_good_once(server: RunningServer, provider: TestProvider) -> None:
    provider.authorize_as = "olga"
    with server.client() as browser:
        location, _ = _start(browser)
        back = _provider_answer(location)
        cookie = browser.cookies["dockyard_oidc"]
        assert browser.get(back).status_code == 303
    with server.client(cookies={"dockyard_oidc": cookie}) as replay:
        refused = replay.get(back)
        assert refused.status_code == 401 and "did not sign you in" in refused.text
        assert "Signed in as" not in replay.get("/").text


def test_the_provider_saying_no_signs_nobody_in(server: RunningServer) -> None:
    with server.client() as browser:
        _, query = _start(browser)
        denied = {"error": "access_denied", "state": query["state"]}
        answer = browser.get("/ui/oidc/callback", params=denied)
        assert answer.status_code == 401 and "Signed in as" not in answer.text
