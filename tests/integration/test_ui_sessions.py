"""Signing in to the web UI and the rules of its sessions, on servers with identity management
(local users, LDAP) and with an htpasswd file alone: cookie attributes, CSRF on the sign-in and
sign-out forms, sign-out and expiry ending the session on the server, anonymous browsing of
public projects, and permissions enforced on what the UI deletes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from support import postgres
from support.identity import ADMIN, Api, cli, identity_env, identity_server
from support.ldap import GROUPS, PASSWORDS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, running_slapd
from support.oci import make_image, push_image
from support.server import RunningServer, serving
from support.ui import csrf_of, post_form, sign_in

ALICE = ("alice", "alice-password")
GUEST = ("gus", "gus-password")
SESSION = "dockyard_session"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with identity_server(tmp_path_factory.mktemp("ui-identity")) as running:
        with Api(running) as admin:
            admin.project("pub", public=True)
            admin.project("priv")
            admin.user(*ALICE)
            admin.user(*GUEST)
            admin.member("priv", ALICE[0], "maintainer")
            admin.member("priv", GUEST[0], "guest")
        with running.client(auth=ADMIN) as pusher:
            push_image(pusher, "pub/web", make_image(layers=1), "v1")
            push_image(pusher, "priv/secret", make_image(layers=1), "v1")
            push_image(pusher, "priv/secret", make_image(layers=1), "v2")
        yield running


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def _session_cookie(response: httpx.Response) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION + "=")]
    assert found, response.headers
    return found[-1]


def test_anonymous_visitors_see_public_projects_only(browser: httpx.Client) -> None:
    home = browser.get("/")
    assert home.status_code == 200
    assert 'href="/ui/project?name=pub"' in home.text and "priv" not in home.text
    assert "pub/web" in browser.get("/ui/project", params={"name": "pub"}).text
    assert "pub/web" in browser.get("/ui/repositories").text
    assert "priv/secret" not in browser.get("/ui/repositories").text
    refused = browser.get("/ui/repository", params={"name": "priv/secret"})
    assert refused.status_code == 401 and "Sign in required" in refused.text
    assert "/ui/signin?next=/ui/repository%3Fname%3Dpriv" in refused.text
    assert browser.get("/ui/project", params={"name": "priv"}).status_code == 404


def test_sign_in_sets_a_strict_session_cookie(browser: httpx.Client) -> None:
    response = sign_in(browser, *ALICE)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = _session_cookie(response)
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower() and "max-age" not in attributes
    home = browser.get("/")
    assert "Signed in as <strong>alice</strong>" in home.text
    assert 'href="/ui/project?name=priv"' in home.text
    tags = browser.get("/ui/repository", params={"name": "priv/secret"})
    assert tags.status_code == 200 and ">v2</a>" in tags.text


def test_projects_show_members_storage_and_visibility(browser: httpx.Client) -> None:
    sign_in(browser, *ALICE)
    page = browser.get("/ui/project", params={"name": "priv"}).text
    assert "private" in page and "priv/secret" in page
    assert "<dt>Members</dt><dd>2</dd>" in page
    assert "KiB" in page and "(no quota)" in page


def test_wrong_password_gets_no_session(browser: httpx.Client) -> None:
    response = sign_in(browser, ALICE[0], "wrong")
    assert response.status_code == 401 and "Invalid user name or password" in response.text
    assert not any(c.startswith(SESSION + "=") and "Max-Age=0" not in c
                   for c in response.headers.get_list("set-cookie"))  # fmt: skip
    unknown = sign_in(browser, "nobody", "wrong")
    assert unknown.status_code == 401 and "Invalid user name or password" in unknown.text


def test_sign_in_form_needs_its_csrf_token_and_this_origin(browser: httpx.Client) -> None:
    token = csrf_of(browser.get("/ui/signin").text)
    form = {"username": ALICE[0], "password": ALICE[1]}
    assert post_form(browser, "/ui/signin", form).status_code == 403
    with httpx.Client(base_url=browser.base_url) as other:  # no form cookie of its own
        assert post_form(other, "/ui/signin", {**form, "csrf": token}).status_code == 403
    cross = {"Origin": "http://127.0.0.2:1", "Sec-Fetch-Site": "cross-site"}
    refused = browser.post("/ui/signin", data={**form, "csrf": token}, headers=cross)
    assert refused.status_code == 403
    assert not any(c.startswith(SESSION + "=") for c in refused.headers.get_list("set-cookie"))
    assert "Signed in as" not in browser.get("/").text


def test_no_open_redirect_after_sign_in(browser: httpx.Client) -> None:
    token = csrf_of(browser.get("/ui/signin").text)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        data = {"username": ALICE[0], "password": ALICE[1], "csrf": token, "next": target}
        response = post_form(browser, "/ui/signin", data)
        assert response.headers["location"] == "/", target
        token = csrf_of(browser.get("/").text)  # now the session's token
    data = {"username": ALICE[0], "password": ALICE[1], "csrf": token, "next": "/ui/repositories"}
    assert post_form(browser, "/ui/signin", data).headers["location"] == "/ui/repositories"


def test_sign_out_ends_the_session_on_the_server(
    server: RunningServer, browser: httpx.Client
) -> None:
    sign_in(browser, *ALICE)
    stolen = browser.cookies[SESSION]
    page = browser.get("/").text
    assert post_form(browser, "/ui/signout", {}).status_code == 403  # no token: still signed in
    assert "Signed in as" in browser.get("/").text
    out = post_form(browser, "/ui/signout", {"csrf": csrf_of(page)})
    assert out.status_code == 303 and "Max-Age=0" in _session_cookie(out)
    with server.client(cookies={SESSION: stolen}) as replay:  # the old cookie is worth nothing
        assert "Signed in as" not in replay.get("/").text
        denied = replay.get("/ui/repository", params={"name": "priv/secret"})
        assert denied.status_code == 401


def test_a_forged_or_altered_cookie_is_anonymous(
    server: RunningServer, browser: httpx.Client
) -> None:
    sign_in(browser, *ALICE)
    value = browser.cookies[SESSION]
    session_id, _, mac = value.partition(".")
    for forged in (session_id, f"{session_id}.{mac[:-2]}xx", f"x{session_id}.{mac}", "a.b"):
        with server.client(cookies={SESSION: forged}) as client:
            page = client.get("/")
            assert "Signed in as" not in page.text, forged
            assert "Max-Age=0" in _session_cookie(page)


def test_a_deleted_user_loses_the_session(server: RunningServer, browser: httpx.Client) -> None:
    with Api(server) as admin:
        admin.user("temp", "temp-password")
        admin.member("priv", "temp", "guest")
        sign_in(browser, "temp", "temp-password")
        assert "Signed in as <strong>temp</strong>" in browser.get("/").text
        admin.ok("DELETE", "/users/temp", 204)
    assert "Signed in as" not in browser.get("/").text


def test_deleting_needs_the_permission(server: RunningServer, browser: httpx.Client) -> None:
    sign_in(browser, *GUEST)
    page = browser.get("/ui/artifact", params={"repository": "priv/secret", "reference": "v1"})
    assert page.status_code == 200 and "Delete tag" not in page.text  # not offered
    confirm = browser.get("/ui/delete", params={"repository": "priv/secret", "reference": "v1"})
    form = {"repository": "priv/secret", "reference": "v1", "csrf": csrf_of(confirm.text)}
    refused = post_form(browser, "/ui/delete", form)
    assert refused.status_code == 403 and "Not allowed" in refused.text
    with server.client(auth=ADMIN) as admin:
        assert admin.head("/v2/priv/secret/manifests/v1").status_code == 200
    with server.client() as anonymous:
        asked = anonymous.get("/ui/delete", params={"repository": "pub/web", "reference": "v1"})
        assert asked.status_code == 401


def test_maintainer_deletes_a_tag(server: RunningServer, browser: httpx.Client) -> None:
    with server.client(auth=ADMIN) as admin:
        push_image(admin, "priv/secret", make_image(layers=1), "old")
    sign_in(browser, *ALICE)
    page = browser.get("/ui/artifact", params={"repository": "priv/secret", "reference": "old"})
    assert "Delete tag old" in page.text and "Delete artifact" in page.text
    confirm = browser.get("/ui/delete", params={"repository": "priv/secret", "reference": "old"})
    form = {"repository": "priv/secret", "reference": "old", "csrf": csrf_of(confirm.text)}
    assert post_form(browser, "/ui/delete", form).status_code == 303
    with server.client(auth=ADMIN) as admin:
        assert admin.head("/v2/priv/secret/manifests/old").status_code == 404


def test_sessions_expire_on_the_server(tmp_path: Path) -> None:
    env = {"REGISTRY_DOCKYARD_UI_IDLETIMEOUT": "1s"}
    with identity_server(tmp_path, **env) as server, server.client() as browser:
        assert sign_in(browser, *ADMIN).status_code == 303
        assert "Signed in as" in browser.get("/").text
        time.sleep(1.5)  # longer than the idle timeout (no time is asserted)
        page = browser.get("/")
        assert "Signed in as" not in page.text and "Max-Age=0" in _session_cookie(page)


def test_htpasswd_users_sign_in_without_identity(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"hank-password", bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"hank:{hashed}\n")
    env = {"REGISTRY_AUTH": "htpasswd", "REGISTRY_AUTH_HTPASSWD_PATH": str(path)}
    with serving(tmp_path, env=env) as server, server.client() as browser:
        with server.client(auth=("hank", "hank-password")) as pusher:
            push_image(pusher, "hank/app", make_image(layers=1), "v1")
        home = browser.get("/")  # no anonymous catalog with htpasswd: the sign-in page, a 200
        assert home.status_code == 200 and 'action="/ui/signin"' in home.text
        assert browser.get("/ui/repositories").status_code == 401
        assert sign_in(browser, "hank", "wrong").status_code == 401
        assert sign_in(browser, "hank", "hank-password").status_code == 303
        assert "hank/app" in browser.get("/").text


def test_ldap_users_sign_in(tmp_path_factory: pytest.TempPathFactory) -> None:
    key = "REGISTRY_DOCKYARD_IDENTITY_LDAP_"
    with running_slapd(tmp_path_factory.mktemp("ui-slapd")) as slapd:
        env = {
            f"{key}URL": slapd.url, f"{key}STARTTLS": "true",
            f"{key}CACERTIFICATE": str(slapd.tls.ca), f"{key}BINDDN": SERVICE_DN,
            f"{key}BINDPASSWORD": SERVICE_PASSWORD, f"{key}USERSEARCHBASE": PEOPLE,
            f"{key}GROUPSEARCHBASE": GROUPS,
            f"{key}GROUPMAPPINGS_0_GROUP": "developers", f"{key}GROUPMAPPINGS_0_PROJECT": "team",
            f"{key}GROUPMAPPINGS_0_ROLE": "developer",
        }  # fmt: skip
        with identity_server(tmp_path_factory.mktemp("ui-ldap"), **env) as server:
            with Api(server) as admin:
                admin.project("team")
            with server.client(auth=ADMIN) as pusher:
                push_image(pusher, "team/ldap-app", make_image(layers=1), "v1")
            with server.client() as browser:
                assert sign_in(browser, "alice", "wrong").status_code == 401
                assert sign_in(browser, "alice", PASSWORDS["alice"]).status_code == 303
                assert "team/ldap-app" in browser.get("/ui/repositories").text


def test_a_session_is_known_to_every_node(tmp_path: Path) -> None:
    """Two nodes on one PostgreSQL database: signed in on one, signed in on the other; signed
    out on the other, signed out on the first."""
    if not postgres.available():
        pytest.skip("PostgreSQL is not installed (scripts/bootstrap --test)")
    env = identity_env(REGISTRY_DOCKYARD_DATABASE=postgres.shared_server().create_database("ui2"))
    for node in ("a", "b"):
        (tmp_path / node).mkdir()
    cli(tmp_path / "data", env, "user", "add", ADMIN[0], "--admin", "--password-stdin",
        stdin=ADMIN[1] + "\n")  # fmt: skip
    with (
        serving(tmp_path / "a", env=env, data_dir=tmp_path / "a-data") as first,
        serving(tmp_path / "b", env=env, data_dir=tmp_path / "b-data") as second,
        first.client() as on_first,
    ):
        assert sign_in(on_first, *ADMIN).status_code == 303
        cookie = on_first.cookies[SESSION]
        with second.client(cookies={SESSION: cookie}) as on_second:
            page = on_second.get("/")
            assert "Signed in as <strong>admin</strong>" in page.text
            out = post_form(on_second, "/ui/signout", {"csrf": csrf_of(page.text)})
            assert out.status_code == 303
        assert "Signed in as" not in on_first.get("/").text
