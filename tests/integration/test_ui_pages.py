"""The web UI on a registry without authentication: every page, deleting with confirmation
and CSRF protection, and bad input answered with a page (never a traceback)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.oci import make_image, push_image
from support.server import RunningServer, serving
from support.ui import (
    SBOM_TYPE,
    SIGNATURE_TYPE,
    csrf_of,
    image_with_config,
    post_form,
    push_index,
    push_referrer,
)

REPO = "team/app"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir: Path = tmp_path_factory.mktemp("ui-open")
    with serving(workdir, env={"REGISTRY_STORAGE_DELETE_ENABLED": "true"}) as running:
        with running.client() as client:
            image = image_with_config()
            push_image(client, REPO, image, "v1")
            push_referrer(client, REPO, image, SIGNATURE_TYPE)
            push_referrer(client, REPO, image, SBOM_TYPE)
            push_index(client, REPO, "multi")
            push_image(client, "other/tool", make_image(layers=1), "latest")
        yield running


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def test_home_lists_repositories_to_anyone(browser: httpx.Client) -> None:
    page = browser.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'href="/ui/repository?name={REPO}"' in page.text
    assert "other/tool" in page.text


def test_every_page_sends_the_security_headers(browser: httpx.Client) -> None:
    for path in ("/", "/ui/repositories", f"/ui/repository?name={REPO}", "/ui/signin",
                 f"/ui/artifact?repository={REPO}&reference=v1", "/ui/no-such-page"):  # fmt: skip
        response = browser.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp, path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["cache-control"] == "no-store", path
        assert "<script>" not in response.text and " on" + "click=" not in response.text, path


def test_static_files_are_served_from_this_server(browser: httpx.Client) -> None:
    htmx = browser.get("/ui/static/htmx.min.js")
    assert htmx.status_code == 200 and htmx.headers["content-type"].startswith("text/javascript")
    assert b"htmx" in htmx.content
    assert browser.get("/ui/static/htmx-LICENSE.txt").text.startswith("Zero-Clause BSD")
    assert browser.get("/ui/static/../app.py").status_code == 404
    page = browser.get("/").text
    assert "http://" not in page.replace(str(browser.base_url), "")
    assert "https://" not in page


def test_search_narrows_repositories_and_htmx_gets_rows_only(browser: httpx.Client) -> None:
    found = browser.get("/ui/repositories", params={"q": "too"})
    assert "other/tool" in found.text and REPO not in found.text
    rows = browser.get("/ui/repositories", params={"q": "app"}, headers={"HX-Request": "true"})
    assert rows.text.lstrip().startswith("<tr>") and "<html" not in rows.text
    assert REPO in rows.text
    none = browser.get("/ui/repositories", params={"q": "<script>"})
    assert "No repositories match" in none.text and "<script>" not in none.text


def test_tag_page_shows_digest_size_platforms(browser: httpx.Client) -> None:
    page = browser.get("/ui/repository", params={"name": REPO})
    assert page.status_code == 200
    assert ">v1</a>" in page.text and ">multi</a>" in page.text
    assert "linux/arch0, linux/arch1" in page.text
    assert "KiB" in page.text and "never" in page.text  # sizes, and nothing pulled yet


def test_tags_are_paged_by_keyset(server: RunningServer, browser: httpx.Client) -> None:
    repo = "paged/many"
    with server.client() as client:
        image = make_image(layers=1, size=10)
        push_image(client, repo, image, "t000")
        for n in range(1, 55):
            response = client.put(f"/v2/{repo}/manifests/t{n:03d}", content=image.manifest,
                                  headers={"Content-Type": image.media_type})  # fmt: skip
            assert response.status_code == 201
    first = browser.get("/ui/repository", params={"name": repo}).text
    assert ">t049</a>" in first and ">t050</a>" not in first
    more = "/ui/repository?name=paged%2Fmany&amp;cursor=t049"
    assert f'href="{more}"' in first
    second = browser.get("/ui/repository", params={"name": repo, "cursor": "t049"},
                         headers={"HX-Request": "true"}).text  # fmt: skip
    assert ">t050</a>" in second and ">t054</a>" in second and ">t049</a>" not in second
    assert "More tags" not in second
    newest = browser.get("/ui/repository", params={"name": repo, "sort": "pushed"}).text
    assert newest.index(">t054</a>") < newest.index(">t053</a>")
    assert "sort=pushed&amp;cursor=" in newest


def test_artifact_page_shows_config_layers_and_referrers(browser: httpx.Client) -> None:
    page = browser.get("/ui/artifact", params={"repository": REPO, "reference": "v1"})
    assert page.status_code == 200
    text = page.text
    assert "GREETING=hello &lt;world&gt;" in text  # escaped, never markup
    assert "[&#34;/bin/app&#34;, &#34;--serve&#34;]" in text or "/bin/app" in text
    assert "COPY app /bin/app" in text and "(no layer)" in text
    assert "org.opencontainers.image.source" in text and "demo app" in text
    assert text.count('data-label="#"') == 2  # two layers
    assert ">signature</td>" in text and ">sbom</td>" in text
    host = str(browser.base_url).split("://")[1].rstrip("/")
    assert f'value="podman pull {host}/{REPO}:v1"' in text
    assert f'value="podman pull {host}/{REPO}@sha256:' in text


def test_index_page_lists_its_platforms(browser: httpx.Client) -> None:
    page = browser.get("/ui/artifact", params={"repository": REPO, "reference": "multi"})
    assert page.status_code == 200
    assert "linux/arch0" in page.text and "linux/arch1" in page.text
    assert 'id="layers"' not in page.text


def test_bad_input_gets_an_error_page(browser: httpx.Client) -> None:
    cases = {
        "/ui/repository?name=../etc": 400,
        "/ui/repository?name=": 400,
        "/ui/repository?name=no/such": 404,
        f"/ui/artifact?repository={REPO}&reference=sha256:zz": 400,
        f"/ui/artifact?repository={REPO}&reference=nope": 404,
        "/ui/nothing-here": 404,
        "/ui/repositories?cursor=%00": 200,
    }
    for path, status in cases.items():
        response = browser.get(path)
        assert response.status_code == status, (path, response.text[:500])
        assert "Traceback" not in response.text and response.headers["content-type"].startswith(
            "text/html"
        )
    assert browser.put("/ui/delete").status_code == 405


def _tag_exists(server: RunningServer, repo: str, tag: str) -> bool:
    with server.client() as client:
        return client.head(f"/v2/{repo}/manifests/{tag}").status_code == 200


def test_delete_tag_needs_confirmation_and_the_csrf_token(
    server: RunningServer, browser: httpx.Client
) -> None:
    repo = "team/deleting"
    with server.client() as client:
        push_image(client, repo, make_image(layers=1), "gone")
    confirm = browser.get("/ui/delete", params={"repository": repo, "reference": "gone"})
    assert confirm.status_code == 200 and "Delete tag?" in confirm.text
    assert _tag_exists(server, repo, "gone")  # asking is not deleting
    token = csrf_of(confirm.text)
    form = {"repository": repo, "reference": "gone"}
    assert post_form(browser, "/ui/delete", form).status_code == 403  # no token
    assert post_form(browser, "/ui/delete", {**form, "csrf": token + "x"}).status_code == 403
    with server.client() as stranger:  # another browser's token is not this one's
        assert post_form(stranger, "/ui/delete", {**form, "csrf": token}).status_code == 403
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    refused = browser.post("/ui/delete", data={**form, "csrf": token}, headers=evil)
    assert refused.status_code == 403
    assert _tag_exists(server, repo, "gone")
    done = post_form(browser, "/ui/delete", {**form, "csrf": token})
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/repository?name=team%2Fdeleting&deleted=gone"
    assert not _tag_exists(server, repo, "gone")


def test_delete_artifact_by_digest(server: RunningServer, browser: httpx.Client) -> None:
    repo = "team/deleting-digest"
    image = make_image(layers=1)
    with server.client() as client:
        push_image(client, repo, image, "one")
    confirm = browser.get("/ui/delete", params={"repository": repo, "reference": image.digest})
    assert "Delete artifact?" in confirm.text and "one" in confirm.text
    form = {"repository": repo, "reference": image.digest, "csrf": csrf_of(confirm.text)}
    assert post_form(browser, "/ui/delete", form).status_code == 303
    assert not _tag_exists(server, repo, image.digest)


def test_forms_must_be_url_encoded_and_small(browser: httpx.Client) -> None:
    confirm = browser.get("/ui/delete", params={"repository": REPO, "reference": "v1"})
    token = csrf_of(confirm.text)
    headers = {"Origin": str(browser.base_url).rstrip("/"), "Content-Type": "text/plain"}
    assert browser.post("/ui/delete", content=b"csrf=" + token.encode(),
                        headers=headers).status_code == 415  # fmt: skip
    big = {"csrf": token, "repository": "x" * 20000, "reference": "v1"}
    assert post_form(browser, "/ui/delete", big).status_code == 413


def test_sign_in_page_says_there_is_no_sign_in(browser: httpx.Client) -> None:
    page = browser.get("/ui/signin")
    assert "This registry has no sign-in" in page.text


def test_the_ui_can_be_turned_off(tmp_path: Path) -> None:
    env = {"REGISTRY_DOCKYARD_UI_ENABLED": "false"}
    with serving(tmp_path, env=env) as running, running.client() as client:
        home = client.get("/")
        assert home.status_code == 200 and home.content == b""
        assert client.get("/ui/repositories").status_code == 404


def test_no_delete_offered_or_done_when_deletes_are_off(tmp_path: Path) -> None:
    with serving(tmp_path) as running, running.client() as browser:
        push_image(browser, "keep/app", make_image(layers=1), "v1")
        page = browser.get("/ui/artifact", params={"repository": "keep/app", "reference": "v1"})
        assert page.status_code == 200 and "Delete" not in page.text
        confirm = browser.get("/ui/delete", params={"repository": "keep/app", "reference": "v1"})
        form = {"repository": "keep/app", "reference": "v1", "csrf": csrf_of(confirm.text)}
        refused = post_form(browser, "/ui/delete", form)
        assert refused.status_code == 405 and "Traceback" not in refused.text
        assert browser.head("/v2/keep/app/manifests/v1").status_code == 200


def test_pages_are_in_the_access_log(server: RunningServer, browser: httpx.Client) -> None:
    response = browser.get("/ui/repositories", headers={"X-Request-Id": "ui-page-1"})
    assert response.headers["x-request-id"] == "ui-page-1"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # lines are written in short batches
        lines = [json.loads(x) for x in server.log().splitlines() if '"ui-page-1"' in x]
        if lines:
            break
        time.sleep(0.05)
    (line,) = lines
    assert line["route"] == "ui" and line["status"] == 200 and line["method"] == "GET"
    assert line["path"] == "/ui/repositories" and line["bytes_out"] == len(response.content)


def test_pull_commands_name_http_host_when_set(tmp_path: Path) -> None:
    env = {"REGISTRY_HTTP_HOST": "https://registry.example.test"}
    with serving(tmp_path, env=env) as running, running.client() as browser:
        push_image(browser, "named/app", make_image(layers=1), "v1")
        page = browser.get("/ui/artifact", params={"repository": "named/app", "reference": "v1"})
        assert 'value="podman pull registry.example.test/named/app:v1"' in page.text
