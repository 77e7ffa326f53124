"""Signing in to the web UI with an OpenID provider: the authorization code flow with PKCE.

``/ui/oidc/start`` keeps ``state``, ``nonce``, the PKCE verifier and where to go afterwards in
the ``dockyard_oidc`` cookie (signed, ten minutes, ``HttpOnly``, ``SameSite=Lax`` so that it
comes back with the provider's redirect, which is a top-level navigation) and sends the browser
to the provider. ``/ui/oidc/callback`` accepts the answer only with that cookie and the same
``state``, trades the code for the ID token, and signs the user in through the login service
(which verifies the token and records the user and their groups, as for any OIDC login) when
the token carries the flow's ``nonce``. Any mismatch: 403, and nobody is signed in.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import TYPE_CHECKING

from dockyard.auth.oidc_flow import FlowError
from dockyard.auth.oidc_keys import ProviderUnavailableError
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.ui import account
from dockyard.ui.render import Page, redirect
from dockyard.ui.visit import Visit

if TYPE_CHECKING:
    from dockyard.ui.app import UiContext

FLOW_COOKIE = "dockyard_oidc"
FLOW_SECONDS = 600
CALLBACK = "/ui/oidc/callback"
NOT_SIGNED_IN = "The identity provider did not sign you in."
NOT_FOR_THIS = "The identity provider's answer was not for this sign-in."


class FlowRefusedError(Exception):
    """The provider's answer does not belong to a flow this browser started."""


def _redirect_uri(visit: Visit) -> str:
    if visit.public_url:  # http.host
        return visit.public_url.rstrip("/") + CALLBACK
    return f"{'https' if visit.secure else 'http'}://{visit.host}{CALLBACK}"


async def start(ctx: UiContext, visit: Visit) -> Page:
    flow = ctx.registry.oidc_flow
    if flow is None:
        raise RegistryError(ErrorCode.NOT_FOUND, "no OpenID provider is configured")
    try:
        request = await flow.begin(_redirect_uri(visit))
    except ProviderUnavailableError:
        raise RegistryError(ErrorCode.UNAVAILABLE, "the identity provider cannot be reached") \
            from None  # fmt: skip
    state = {"state": request.state, "nonce": request.nonce, "verifier": request.verifier,
             "next": account.safe_next(visit.query("next")),
             "until": time.time() + FLOW_SECONDS}  # fmt: skip
    payload = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    value = f"{payload}.{await ctx.sessions.sign('oidc', payload)}"
    visit.set_cookies.append(account.cookie(FLOW_COOKIE, value, visit))
    return redirect(request.url)


async def _flow_state(ctx: UiContext, visit: Visit) -> dict[str, object]:
    value = visit.cookie(FLOW_COOKIE) or ""
    payload, _, mac = value.partition(".")
    if not payload or not hmac.compare_digest(mac, await ctx.sessions.sign("oidc", payload)):
        raise FlowRefusedError("This sign-in was not started from this browser.")
    state = json.loads(base64.urlsafe_b64decode(payload.encode()))
    if not isinstance(state, dict) or float(state.get("until", 0)) < time.time():
        raise FlowRefusedError("This sign-in took too long: start again.")
    if not hmac.compare_digest(str(state.get("state", "")), visit.query("state")):
        raise FlowRefusedError("This answer belongs to another sign-in.")
    return state


async def callback(ctx: UiContext, visit: Visit) -> Page:
    flow = ctx.registry.oidc_flow
    if flow is None:
        raise RegistryError(ErrorCode.NOT_FOUND, "no OpenID provider is configured")
    visit.set_cookies.append(account.expired_cookie(FLOW_COOKIE, visit))
    try:
        state = await _flow_state(ctx, visit)
    except FlowRefusedError as refused:
        return ctx.templates.page("error.html", 403, visit=visit, title="Sign-in refused",
                                  message=str(refused), signin=False, next_url="/")  # fmt: skip
    if visit.query("error") or not visit.query("code"):
        return await account.signin_form(ctx, visit, status=401, message=NOT_SIGNED_IN)
    try:
        token = await flow.exchange(visit.query("code"), _redirect_uri(visit),
                                    str(state["verifier"]))  # fmt: skip
    except (FlowError, ProviderUnavailableError):
        return await account.signin_form(ctx, visit, status=401, message=NOT_SIGNED_IN)
    if not flow.nonce_matches(token, str(state["nonce"])):
        return await account.signin_form(ctx, visit, status=401, message=NOT_FOR_THIS)
    return await account.start_session(ctx, visit, flow.username_of(token), token,
                                       str(state["next"]))  # fmt: skip
