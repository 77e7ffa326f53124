"""UiApp: the shell surface behind ``/`` and ``/ui/...``; sessions, CSRF, errors, headers.

Every state-changing request (``POST``) must come from this server's own pages: a browser's
``Sec-Fetch-Site``/``Origin`` must say so (as for ``/api/v1``, ``api/mgmt/browsers.py``), and
the form must carry the CSRF token of the session (or, for the sign-in form, the HMAC of the
form cookie). Otherwise 403 and nothing happens. Errors are pages, never tracebacks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dockyard.api.context import Context
from dockyard.api.http import ClientDisconnectedError, Request, respond
from dockyard.api.mgmt.browsers import is_same_origin
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.browse.service import BrowseService
from dockyard.services.registry import Registry
from dockyard.services.web_sessions import WebSessions
from dockyard.ui import account, oidc, pages
from dockyard.ui.render import Page, Templates, load_static
from dockyard.ui.sessions import FORM_COOKIE, SESSION_COOKIE, CookieSessions
from dockyard.ui.signin import SignIn
from dockyard.ui.visit import Visit, read_form

log = logging.getLogger("dockyard.ui")
PREFIX = "/ui/"
STATIC = "/ui/static/"
Handler = Callable[["UiContext", Visit], Awaitable[Page]]


@dataclass(frozen=True, slots=True)
class UiOptions:
    enabled: bool = True
    token_only: bool = False  # auth.token: tokens from another issuer, no sign-in here
    public_url: str = ""  # http.host (pull commands, the OIDC redirect URI)


@dataclass(slots=True)
class UiContext:
    """What pages need: services, templates, sessions, sign-in."""

    registry: Registry
    browse: BrowseService
    templates: Templates
    sessions: CookieSessions
    signin: SignIn


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/"): pages.home,
    ("GET", "/ui/repositories"): pages.repositories,
    ("GET", "/ui/projects"): pages.projects,
    ("GET", "/ui/project"): pages.project,
    ("GET", "/ui/repository"): pages.repository,
    ("GET", "/ui/artifact"): pages.artifact,
    ("GET", "/ui/delete"): pages.confirm_delete,
    ("POST", "/ui/delete"): pages.delete,
    ("GET", "/ui/signin"): account.signin_form,
    ("POST", "/ui/signin"): account.signin,
    ("POST", "/ui/signout"): account.signout,
    ("GET", "/ui/oidc/start"): oidc.start,
    ("GET", oidc.CALLBACK): oidc.callback,
}
NONCE_MAX = 64


class FormRefusedError(Exception):
    """A form posted from another origin or without the right CSRF token (403)."""


class UiApp:
    """The web UI as a surface of the HTTP shell (``api/shell.py``), mounted at ``/`` and
    ``/ui``: the shell gives it the request id, the access log line and the metrics; its
    own errors are pages, never the OCI envelope."""

    def __init__(
        self, registry: Registry, browse: BrowseService, sessions: WebSessions, options: UiOptions,
    ) -> None:  # fmt: skip
        self.public_url = options.public_url
        self.ctx = UiContext(
            registry, browse, Templates(), CookieSessions(sessions),
            SignIn(registry, token_only=options.token_only),
        )  # fmt: skip
        self.static = load_static()

    async def __call__(self, ctx: Context) -> None:
        ctx.route = "ui"
        request = ctx.request
        try:
            page = await self._serve(ctx)
        except ClientDisconnectedError:
            raise  # the shell logs a 499
        except Exception:
            fields = {"request_id": ctx.request_id}
            log.exception("web UI: unhandled error", extra={"fields": fields})
            page = self._error_page(
                None, 500, "Something went wrong", "The server could not show this page."
            )
        body = b"" if request.method == "HEAD" else page.body
        headers = [*page.header_list(), (b"x-request-id", ctx.request_id.encode())]
        await respond(ctx.send, page.status, headers, body)

    async def _serve(self, ctx: Context) -> Page:
        request = ctx.request
        if request.path.startswith(STATIC):
            return self._static(request.path[len(STATIC) :])
        path = "/" if request.path in ("", "/ui", "/ui/") else request.path
        method = "GET" if request.method == "HEAD" else request.method
        handler = ROUTES.get((method, path))
        if handler is None:
            allowed = [m for (m, p) in ROUTES if p == path]
            status = 405 if allowed else 404
            return self._error_page(None, status, "Not found" if status == 404 else
                                    "Method not allowed", "There is no such page.")  # fmt: skip
        visit = await self._visit(request)
        ctx.principal = visit.principal  # for the shell's access log line
        try:
            if method == "POST":
                await self._check_form(visit)
            page = await handler(self.ctx, visit)
        except RegistryError as error:
            page = self._refusal(visit, error)
        except FormRefusedError as refused:
            page = self._error_page(visit, 403, "Form refused", str(refused))
        page.headers += [("set-cookie", cookie) for cookie in visit.set_cookies]
        page.user = visit.principal.name
        return page

    async def _visit(self, request: Request) -> Visit:
        client = str((request.scope.get("client") or ("",))[0])
        cookie = _cookie(request, SESSION_COOKIE)
        session = await self.ctx.sessions.find(cookie)
        principal = await self.ctx.signin.principal(session, client)
        if principal is None and session is not None:  # the account is gone or changed
            await self.ctx.sessions.end(session)
            session = None
        if principal is None:
            principal = await self.ctx.signin.anonymous(client)
        visit = Visit(request, principal, session, client, can_sign_in=self.ctx.signin.available,
                      can_use_oidc=self.ctx.registry.oidc_flow is not None,
                      public_url=self.public_url)  # fmt: skip
        if cookie and visit.session is None:
            visit.set_cookies.append(account.expired_cookie(SESSION_COOKIE, visit))
        visit.csrf = session.csrf if session is not None else await self._form_token(visit)
        return visit

    async def _form_token(self, visit: Visit) -> str:
        """The CSRF token of a visitor without a session: the HMAC of its form cookie."""
        nonce = _cookie(visit.request, FORM_COOKIE)
        if not nonce or len(nonce) > NONCE_MAX:
            nonce = self.ctx.sessions.new_form_nonce()
            visit.set_cookies.append(account.cookie(FORM_COOKIE, nonce, visit, same_site="Strict"))
        return await self.ctx.sessions.form_token(nonce)

    async def _check_form(self, visit: Visit) -> None:
        if not is_same_origin(visit.request):
            raise FormRefusedError("A form sent from another site is refused.")
        visit.form = await read_form(visit.request)
        token = visit.form.get("csrf", "")
        if visit.session is not None:
            if account.csrf_matches(visit.session, token):
                return
        elif await self.ctx.sessions.form_token_matches(_cookie(visit.request, FORM_COOKIE), token):
            return
        raise FormRefusedError("The form is out of date or was not sent by this site: reload the "
                               "page and try again.")  # fmt: skip

    def _static(self, name: str) -> Page:
        found = self.static.get(name)
        if found is None:
            return Page(404, b"not found", "text/plain; charset=utf-8")
        body, kind = found
        return Page(200, body, kind, cache="public, max-age=3600")

    def _refusal(self, visit: Visit, error: RegistryError) -> Page:
        status = error.status
        if error.code is ErrorCode.DENIED and not visit.principal.authenticated and \
                self.ctx.signin.available:  # fmt: skip
            return self._error_page(visit, 401, "Sign in required",
                                    "Sign in to see this page.", signin=True)  # fmt: skip
        titles = {403: "Not allowed", 404: "Not found", 429: "Too many attempts"}
        title = titles.get(status, "Refused" if status < 500 else "Something went wrong")
        message = error.message or error.code.message
        return self._error_page(visit, status, title, message)

    def _error_page(
        self, visit: Visit | None, status: int, title: str, message: str, *, signin: bool = False
    ) -> Page:
        next_url = "/"
        if visit is not None:
            query = visit.request.scope.get("query_string", b"").decode("latin-1")
            next_url = visit.request.path + (f"?{query}" if query else "")
        return self.ctx.templates.page(
            "error.html",
            status,
            visit=visit,
            title=title,
            message=message,
            signin=signin,
            next_url=next_url,
        )


def _cookie(request: Request, name: str) -> str | None:
    header = request.headers.get("cookie") or ""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None
