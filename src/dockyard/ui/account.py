"""Signing in and out, and the cookies that carry a session.

Cookies are ``HttpOnly`` (no script reads them), ``SameSite=Lax`` (a page on another site
cannot make the browser send them with a form post or a fetch), ``Path=/`` and ``Secure`` when
the browser came over HTTPS. They have no ``Max-Age``: the server ends a session, not the
browser. After signing in the browser goes to ``next`` only when it is a path on this
server (never ``//host`` or a URL: no open redirect).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.web_sessions import WebSession
from dockyard.ui.render import Page, redirect
from dockyard.ui.sessions import SESSION_COOKIE
from dockyard.ui.signin import SignInRefusedError
from dockyard.ui.visit import Visit

if TYPE_CHECKING:
    from dockyard.ui.app import UiContext

NAME_MAX = 256
PASSWORD_MAX = 4096


def cookie(name: str, value: str, visit: Visit, *, same_site: str = "Lax") -> str:
    secure = "; Secure" if visit.secure else ""
    return f"{name}={value}; Path=/; HttpOnly; SameSite={same_site}{secure}"


def expired_cookie(name: str, visit: Visit) -> str:
    return cookie(name, "", visit) + "; Max-Age=0"


def csrf_matches(session: WebSession, token: str) -> bool:
    return hmac.compare_digest(session.csrf, token)


def safe_next(target: str) -> str:
    """A path on this server to go to after signing in; ``/`` for anything else."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target if all(c.isprintable() for c in target) else "/"


async def signin_form(ctx: UiContext, visit: Visit, *, status: int = 200,
                      message: str = "", username: str = "") -> Page:  # fmt: skip
    return ctx.templates.page(
        "signin.html", status, visit=visit, csrf=visit.csrf, oidc=visit.can_use_oidc,
        signin_available=ctx.signin.available, message=message, username=username,
        next=safe_next(visit.form.get("next") or visit.query("next")),
    )  # fmt: skip


async def signin(ctx: UiContext, visit: Visit) -> Page:
    if not ctx.signin.available:
        raise RegistryError(ErrorCode.UNSUPPORTED, "signing in is not possible here", status=404)
    username = visit.form.get("username", "").strip()
    password = visit.form.get("password", "")
    if not username or len(username) > NAME_MAX or len(password) > PASSWORD_MAX:
        return await signin_form(ctx, visit, status=400, message="Enter a user name and password.",
                                 username=username[:NAME_MAX])  # fmt: skip
    return await start_session(ctx, visit, username, password, visit.form.get("next", "/"))


async def start_session(
    ctx: UiContext, visit: Visit, username: str, password: str, target: str
) -> Page:
    """Check the credentials with the login service and start a session (a new id)."""
    try:
        signed = await ctx.signin.password(username, password, visit.client)
    except SignInRefusedError:
        return await signin_form(ctx, visit, status=401, username=username,
                                 message="Invalid user name or password.")  # fmt: skip
    if visit.session is not None:  # a new id at every sign-in: no session fixation
        await ctx.sessions.end(visit.session)
    session = await ctx.sessions.start(signed.subject, signed.via)
    value = await ctx.sessions.cookie_value(session)
    visit.set_cookies.append(cookie(SESSION_COOKIE, value, visit))
    return redirect(safe_next(target))


async def signout(ctx: UiContext, visit: Visit) -> Page:
    if visit.session is not None:
        await ctx.sessions.end(visit.session)
    visit.set_cookies.append(expired_cookie(SESSION_COOKIE, visit))
    return redirect("/")
