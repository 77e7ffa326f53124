"""The web UI in Debian's chromium, driven by Playwright: sign in with the keyboard (and with the
test OpenID provider), find an
image pushed by skopeo, read its layers, configuration and referrers, copy its pull command,
delete a tag with confirmation, at desktop and phone width; no Content-Security-Policy
violation on the way; and a form posted from another site arrives without the session cookie.

A failing test leaves a screenshot of the page in its temporary directory (the path is printed).
"""

from __future__ import annotations

import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.clientkit import Clients, OciLayout, host_of, make_image
from support.identity import ADMIN, Api, identity_server
from support.oci import Image
from support.oidc import oidc_env, oidc_provider
from support.server import RunningServer
from support.ui import SIGNATURE_TYPE, push_referrer

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ALICE = ("alice", "alice-password")
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clients: Clients) -> Iterator[RunningServer]:
    with identity_server(tmp_path_factory.mktemp("ui-e2e")) as running:
        with Api(running) as admin:
            admin.project("team")
            admin.user(*ALICE)
            admin.member("team", ALICE[0], "maintainer")
        layout = OciLayout(tmp_path_factory.mktemp("ui-layout"))
        image = make_image([{"etc/motd": b"hello from the UI test\n"}, {"bin/app": b"\x7fELF"}])
        layout.add_image(image, "v1")
        creds = f"--dest-creds={ADMIN[0]}:{ADMIN[1]}"
        for tag in ("v1", "v2", "phone"):
            clients.skopeo("copy", "--dest-tls-verify=false", creds, f"oci:{layout.path}:v1",
                           f"docker://{host_of(running)}/team/app:{tag}")  # fmt: skip
        subject = Image(image.config, image.layers, image.manifest, image.descriptor()["mediaType"])
        with running.client(auth=ADMIN) as pusher:
            push_referrer(pusher, "team/app", subject, SIGNATURE_TYPE)
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/bootstrap --test)")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page_at(
    chromium: Any, server: RunningServer, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Any]:
    """A page factory (viewport size). CSP violations, script errors and failed loads of
    scripts, styles or fetches are collected and must be none; a screenshot is kept when the
    test fails."""
    pages: list[Any] = []
    problems: list[str] = []
    failed_before = request.session.testsfailed

    def make(viewport: dict[str, int] | None = None) -> Any:
        size = viewport or {"width": 1280, "height": 900}
        context = chromium.new_context(viewport=size, base_url=server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if _violation(m.text) else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400
                and r.request.resource_type != "document" else None)  # fmt: skip
        pages.append(page)
        return page

    yield make
    if request.session.testsfailed > failed_before or problems:
        for number, page in enumerate(pages):
            shot = tmp_path / f"failure-{number}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
    for page in pages:
        page.context.close()
    assert not problems, problems


def _violation(message: str) -> bool:
    """A console message that tells of a Content-Security-Policy refusal."""
    return "Content Security Policy" in message or message.startswith("Refused to")


def _sign_in_with_keyboard(page: Any, user: str, password: str) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("User name").focus()
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: not url.endswith("/ui/signin"))
    assert f"Signed in as {user}" in page.inner_text("header")


def test_sign_in_find_the_image_and_copy_its_pull_command(
    page_at: Any, server: RunningServer
) -> None:
    page = page_at()
    _sign_in_with_keyboard(page, *ALICE)
    page.get_by_role("link", name="team", exact=True).click()
    page.get_by_role("link", name="team/app").click()
    page.get_by_role("link", name="v1", exact=True).click()
    assert page.get_by_role("heading", name="team/app:v1").is_visible()
    layers = page.locator("section[aria-labelledby=layers] tbody tr")
    assert layers.count() == 2
    assert "built-by" in page.inner_text("section[aria-labelledby=config]")
    referrers = page.inner_text("section[aria-labelledby=referrers]")
    assert "signature" in referrers
    page.locator("button[data-copy=pull-tag]").click()
    page.wait_for_function("document.getElementById('status').textContent.startsWith('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f"podman pull {host_of(server)}/team/app:v1"


def test_search_updates_the_list_in_place(page_at: Any) -> None:
    page = page_at()
    _sign_in_with_keyboard(page, *ADMIN)
    page.goto("/ui/repositories")
    page.get_by_label("Search repositories").fill("nothing-like-this")
    page.wait_for_selector("td.empty")
    assert page.url.endswith("/ui/repositories")  # no navigation: htmx swapped the rows
    page.get_by_label("Search repositories").fill("team/")
    page.get_by_role("link", name="team/app").wait_for()


def test_delete_a_tag_with_confirmation(page_at: Any, server: RunningServer) -> None:
    page = page_at()
    _sign_in_with_keyboard(page, *ALICE)
    page.goto("/ui/artifact?repository=team/app&reference=v2")
    page.get_by_role("link", name="Delete tag v2").click()
    assert page.get_by_role("heading", name="Delete tag?").is_visible()
    page.get_by_role("link", name="Cancel").click()
    with server.client(auth=ADMIN) as admin:
        assert admin.head("/v2/team/app/manifests/v2").status_code == 200
    page.get_by_role("link", name="Delete tag v2").click()
    page.get_by_role("button", name="Delete").click()
    assert "Deleted v2." in page.inner_text("main")
    assert page.get_by_role("link", name="v2", exact=True).count() == 0
    with server.client(auth=ADMIN) as admin:
        assert admin.head("/v2/team/app/manifests/v2").status_code == 404


def test_phone_width(page_at: Any, server: RunningServer) -> None:
    page = page_at(PHONE)
    _sign_in_with_keyboard(page, *ALICE)
    for path in (
        "/",
        "/ui/repository?name=team/app",
        "/ui/artifact?repository=team/app&reference=phone",
    ):
        page.goto(path)
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, path
    page.locator("button[data-copy=pull-digest]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"podman pull {host_of(server)}/team/app@sha256:")
    page.get_by_role("link", name="Delete tag phone").click()
    page.get_by_role("button", name="Delete").click()
    assert "Deleted phone." in page.inner_text("main")


class _Attacker(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form method="post" action="{self.target}/ui/signout">'
            '<input type="hidden" name="csrf" value="guessed">'
            '<button type="submit">Win a prize</button></form>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


def test_a_form_from_another_site_carries_no_session(page_at: Any, server: RunningServer) -> None:
    page = page_at()
    _sign_in_with_keyboard(page, *ALICE)
    _Attacker.target = server.url
    attacker = http.server.HTTPServer(("127.0.0.1", 0), _Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:  # "localhost" is another site than "127.0.0.1" to the browser
        page.goto(f"http://localhost:{attacker.server_address[1]}/")
        page.get_by_role("button", name="Win a prize").click()
        page.wait_for_url(f"{server.url}/ui/signout")
        assert "Form refused" in page.inner_text("main")
        assert "Signed in as" not in page.inner_text("header")  # the cookie was not sent
    finally:
        attacker.shutdown()
        attacker.server_close()
    page.goto("/")
    assert "Signed in as alice" in page.inner_text("header")  # and the session lives on


def test_sign_in_with_the_openid_provider(chromium: Any, tmp_path: Path) -> None:
    with oidc_provider() as provider, identity_server(tmp_path, **oidc_env(provider)) as server:
        provider.authorize_as = "olga"
        context = chromium.new_context(base_url=server.url)
        try:
            page = context.new_page()
            page.goto("/ui/signin")
            page.get_by_role("link", name="Sign in with your identity provider").click()
            page.wait_for_url(f"{server.url}/")
            assert "Signed in as olga" in page.inner_text("header")
        finally:
            context.close()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_RULES = "['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']"


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, PHONE])
def test_pages_pass_the_accessibility_check(
    chromium: Any, server: RunningServer, viewport: dict[str, int]
) -> None:
    """axe-core (WCAG 2.1 A and AA, best practices: contrast, labels, landmarks, names) finds
    nothing on any page. The check runs in a context that lets the test inject axe's script."""
    context = chromium.new_context(viewport=viewport, base_url=server.url, bypass_csp=True)
    try:
        page = context.new_page()
        _sign_in_with_keyboard(page, *ALICE)
        paths = ["/", "/ui/project?name=team", "/ui/repositories", "/ui/repository?name=team/app",
                 "/ui/artifact?repository=team/app&reference=v1",
                 "/ui/delete?repository=team/app&reference=v1", "/ui/no-such-page"]  # fmt: skip
        found = {}
        for path in paths:
            page.goto(path)
            page.add_script_tag(content=AXE.read_text())
            found[path] = page.evaluate(
                f"async () => (await axe.run(document, {{runOnly: {AXE_RULES}}}))"
                ".violations.map(v => v.id + ': ' + v.nodes.map(n => n.html).join(' | '))"
            )
        assert found == {path: [] for path in paths}
    finally:
        context.close()
