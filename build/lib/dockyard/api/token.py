"""The token endpoint (issuer mode): ``GET``/``POST /token`` and ``GET /token/jwks.json``.

``GET /token?service=..&scope=..&offline_token=true`` authenticates with HTTP Basic (or not at
all, for an anonymous token) as in distribution's token.md; ``POST /token`` takes the OAuth2
form of oauth.md (``grant_type=password`` with ``username``/``password``, or
``grant_type=refresh_token``; ``access_type=offline`` asks for a refresh token). Errors use the
OCI error envelope. Neither passwords nor tokens are ever logged.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import msgspec

from dockyard.api.authn import basic_credentials
from dockyard.api.context import Context
from dockyard.api.http import Request, client_address, respond
from dockyard.api.token_auth import BearerAuthenticator, Challenge, TokenApi
from dockyard.auth.identity import IdentityProvider
from dockyard.auth.policy import AccessPolicy
from dockyard.auth.principal import Principal
from dockyard.auth.token_keys import KeyRing
from dockyard.auth.token_service import (
    CredentialStore,
    InvalidCredentialsError,
    IssuerSettings,
    TokenGrant,
    TokenService,
)
from dockyard.auth.token_trust import TrustStore
from dockyard.auth.tokens import OwnKeys, TokenVerifier
from dockyard.config import DockyardTokenSettings, TokenSettings, parse_duration
from dockyard.core.errors import ErrorCode, RegistryError

TOKEN_PATH = "/token"  # noqa: S105 - a URL path, not a secret
JWKS_PATH = "/token/jwks.json"
FORM_LIMIT = 64 * 1024
NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
JSON = (b"content-type", b"application/json")


def _bad_request(message: str) -> RegistryError:
    return RegistryError(ErrorCode.UNSUPPORTED, message, status=400)


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body of at most :data:`FORM_LIMIT` bytes."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _bad_request("expected an application/x-www-form-urlencoded body")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # keeps the request's byte count (see Request.drain)
        size += len(chunk)
        if size > FORM_LIMIT:
            raise RegistryError(ErrorCode.UNSUPPORTED, "form too large", status=413)
        parts.append(chunk)
    try:
        text = b"".join(parts).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_request("form is not UTF-8") from None
    return parse_qs(text, keep_blank_values=True)


def _first(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


class TokenEndpoint:
    def __init__(self, service: TokenService, ring: KeyRing, *, basic_realm: str) -> None:
        self.service = service
        self.ring = ring
        self.basic_challenge = f'Basic realm="{basic_realm}"'

    def handles(self, path: str) -> bool:
        return path in (TOKEN_PATH, TOKEN_PATH + "/", JWKS_PATH)

    async def handle(self, ctx: Context) -> None:
        method = ctx.request.method
        if ctx.request.path == JWKS_PATH:
            ctx.route = "token_jwks"
            if method not in ("GET", "HEAD"):
                raise self._not_allowed("GET, HEAD")
            await self._reply(ctx, msgspec.json.encode(self.ring.jwks()), cache=True)
            return
        ctx.route = "token"
        if method == "GET":
            grant = await self._get(ctx)
        elif method == "POST":
            grant = await self._post(ctx)
        else:
            raise self._not_allowed("GET, POST")
        await self._reply(ctx, msgspec.json.encode(grant.body()), cache=False)

    def _not_allowed(self, allow: str) -> RegistryError:
        return RegistryError(
            ErrorCode.UNSUPPORTED, "method not allowed", status=405, headers={"Allow": allow}
        )

    async def _reply(self, ctx: Context, body: bytes, *, cache: bool) -> None:
        headers = [*ctx.base_headers(), JSON]
        if not cache:
            headers += NO_STORE
        if ctx.request.method == "HEAD":
            headers.append((b"content-length", str(len(body)).encode()))
            await ctx.send({"type": "http.response.start", "status": 200, "headers": headers})
            await ctx.send({"type": "http.response.body", "body": b""})
            return
        await respond(ctx.send, 200, headers, body)

    def _check_service(self, service: str) -> None:
        if service and service != self.service.settings.service:
            raise _bad_request(f"unknown service {service[:100]!r}")

    def _unauthorized(self, message: str) -> RegistryError:
        return RegistryError(
            ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": self.basic_challenge}
        )

    async def _login(self, ctx: Context, username: str, password: str) -> Principal:
        try:
            return await self.service.authenticate(username, password, client_address(ctx.request))
        except InvalidCredentialsError as exc:
            raise self._unauthorized(str(exc)) from None

    async def _get(self, ctx: Context) -> TokenGrant:
        request = ctx.request
        self._check_service(request.param("service") or "")
        header = request.headers.get("authorization")
        if header:
            credentials = basic_credentials(header)
            if credentials is None:
                raise self._unauthorized("expected HTTP Basic credentials")
            ctx.principal = await self._login(ctx, *credentials)
        else:
            ctx.principal = await self.service.anonymous(client_address(request))
        offline = (request.param("offline_token") or "").lower() == "true"
        scopes = request.params("scope")
        ctx.principal = await self.service.prepare(ctx.principal, scopes)
        return self.service.grant(ctx.principal, scopes, offline=offline)

    async def _post(self, ctx: Context) -> TokenGrant:
        form = await read_form(ctx.request)
        self._check_service(_first(form, "service"))
        grant_type = _first(form, "grant_type")
        scopes = form.get("scope", [])
        if grant_type == "password":
            username, password = _first(form, "username"), _first(form, "password")
            ctx.principal = await self._login(ctx, username, password)
            offline = _first(form, "access_type") == "offline"
            ctx.principal = await self.service.prepare(ctx.principal, scopes)
            return self.service.grant(ctx.principal, scopes, offline=offline)
        if grant_type == "refresh_token":
            refresh_token = _first(form, "refresh_token")
            try:
                client = client_address(ctx.request)
                ctx.principal = await self.service.redeem_refresh(refresh_token, client)
            except InvalidCredentialsError as exc:
                raise self._unauthorized(str(exc)) from None
            return self.service.grant(ctx.principal, scopes, refresh_token=refresh_token)
        raise _bad_request("grant_type must be password or refresh_token")


# --------------------------------------------------------------------------- wiring


def issuer_token_api(
    settings: DockyardTokenSettings,
    ring: KeyRing,
    policy: AccessPolicy,
    credentials: CredentialStore | None,
    *,
    basic_realm: str,
    public_host: str = "",
    identity: IdentityProvider | None = None,
) -> TokenApi:
    """dockyard issues tokens (``dockyard.token``) and its ``/v2`` accepts them."""
    issuer = IssuerSettings(
        issuer=settings.issuer,
        service=settings.service,
        lifetime=int(parse_duration(settings.expiry)),
        refresh_lifetime=int(parse_duration(settings.refreshexpiry)),
    )
    service = TokenService(ring, issuer, policy, credentials, identity)
    verifier = TokenVerifier(OwnKeys(ring), issuer=settings.issuer, audience=settings.service)
    realm = settings.realm or (public_host.rstrip("/") + TOKEN_PATH if public_host else "")
    challenge = Challenge(service=settings.service, realm=realm, redirect_path=TOKEN_PATH)
    endpoint = TokenEndpoint(service, ring, basic_realm=basic_realm)
    bearer = BearerAuthenticator(verifier, policy, challenge, identity)
    return TokenApi(bearer, endpoint)


def consumer_token_api(
    settings: TokenSettings, trust: TrustStore, policy: AccessPolicy
) -> TokenApi:
    """``/v2`` accepts tokens from an external issuer (``auth.token``)."""
    verifier = TokenVerifier(trust, issuer=settings.issuer, audience=settings.service)
    if settings.autoredirect:
        path = settings.autoredirectpath or "/auth/token"
        challenge = Challenge(service=settings.service, redirect_path=path)
    else:
        challenge = Challenge(service=settings.service, realm=settings.realm)
    return TokenApi(BearerAuthenticator(verifier, policy, challenge))
