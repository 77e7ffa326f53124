"""Bearer-token authentication for ``/v2`` (issuer mode and ``auth.token`` consumer mode).

Every request needs a valid token. Which access it needs follows distribution's
``appendAccessRecords``: GET/HEAD need ``pull``, writes need ``pull,push``, DELETE needs
``delete`` (an upload session, whatever the method, needs ``pull,push``; a mount with
``from=<repo>`` also ``pull`` on that repository), ``_catalog`` needs
``registry:catalog:*`` and ``/v2/`` only a valid token. The check is ``auth.policy`` itself,
asked early so the challenge can name the missing scope; the services ask it again.

No token or a bad one: 401 ``UNAUTHORIZED`` with ``WWW-Authenticate: Bearer realm=...,
service=...,scope=...`` (``error="invalid_token"`` for a bad one); a good token without the
scope: the same with ``error="insufficient_scope"``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from dockyard.api.http import Request, client_address
from dockyard.auth.identity import STAMP_CLAIM, VIA_CLAIM, IdentityProvider
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.auth.scopes import ResourceActions, resource_for, scope_string
from dockyard.auth.tokens import TokenError, TokenVerifier, VerifiedToken
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.core.reference import validate_name

if TYPE_CHECKING:
    from dockyard.api.context import Context
    from dockyard.api.token import TokenEndpoint
    from dockyard.api.v2.router import Route

log = logging.getLogger("dockyard.auth")
Need = tuple[Action, str | None]
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-_:\[\]]{1,255}$")
_SAFE_PROTO = ("http", "https")
_READS = ("GET", "HEAD")


def needed_access(
    found: tuple[Route, dict[str, str]] | None, method: str, mount_from: str | None = None
) -> list[Need]:
    """What a request needs, in the order a challenge lists it.

    ``mount_from`` is the ``from`` of a ``POST .../blobs/uploads/?mount=&from=``: a mount also
    needs ``pull`` on that repository, so the challenge names it and a client that follows the
    challenge asks for a token that lets the mount happen (distribution's rule).
    """
    if found is None:
        return []
    route, params = found
    if route.name == "catalog":
        return [(Action.CATALOG, None)]
    name = params.get("name")
    if name is None or not _valid_name(name):
        return []
    if route.name in ("upload_start", "upload") or method not in (*_READS, "DELETE"):
        writes: list[Need] = [(Action.PULL, name), (Action.PUSH, name)]
        if route.name == "upload_start" and method == "POST":
            writes += _mount_source(name, mount_from)
        return writes
    if method == "DELETE":
        tag = route.name == "manifest" and ":" not in params.get("reference", ":")
        return [(Action.DELETE_TAG if tag else Action.DELETE, name)]
    return [(Action.PULL, name)]


_WRITES = {("upload_start", "POST"), ("manifest", "PUT")}


def pushed_repository(found: tuple[Route, dict[str, str]] | None, method: str) -> str | None:
    """The repository a request starts writing to (an upload start or a manifest PUT): where
    a project may be created by pushing (``createonpush``), never by asking for a token."""
    if found is None or (found[0].name, method) not in _WRITES:
        return None
    name = found[1].get("name")
    return name if name is not None and _valid_name(name) else None


def _valid_name(name: str) -> bool:
    try:
        validate_name(name)
    except RegistryError:
        return False
    return True


def _mount_source(name: str, mount_from: str | None) -> list[Need]:
    if not mount_from or mount_from == name or not _valid_name(mount_from):
        return []
    return [(Action.PULL, mount_from)]


def _scopes(needs: Sequence[Need]) -> list[ResourceActions]:
    merged: dict[tuple[str, str], list[str]] = {}
    for action, repository in needs:
        kind, name, verb = resource_for(action.token_action, repository)
        merged.setdefault((kind, name), []).append(verb)
    return [ResourceActions(kind, name, tuple(verbs)) for (kind, name), verbs in merged.items()]


@dataclass(frozen=True, slots=True)
class Challenge:
    """How to tell a client where to get a token.

    ``realm`` is the token endpoint URL; when empty it is derived per request: this server's
    ``/token`` (issuer mode), or ``https://<Host><redirect_path>`` (``auth.token.autoredirect``).
    """

    service: str
    realm: str = ""
    redirect_path: str = "/token"

    def realm_for(self, request: Request) -> str:
        if self.realm:
            return self.realm
        headers = request.headers
        host = headers.get("x-forwarded-host") or headers.get("host") or ""
        proto = headers.get("x-forwarded-proto") or request.scope.get("scheme", "http")
        if not _SAFE_HOST.match(host) or proto not in _SAFE_PROTO:
            return self.redirect_path
        return f"{proto}://{host}{self.redirect_path}"

    def error(self, request: Request, needs: Sequence[Need], problem: str | None) -> RegistryError:
        scopes = _scopes(needs)
        value = f'Bearer realm="{self.realm_for(request)}",service="{self.service}"'
        if scopes:
            value += f',scope="{scope_string(scopes)}"'
        if problem:
            value += f',error="{problem}"'
        detail = [
            {"Type": scope.type, "Name": scope.name, "Action": action}
            for scope in scopes
            for action in scope.actions
        ]
        message = "access to the requested resource is not authorized"
        if problem == "invalid_token":
            message = "the bearer token is invalid or expired"
        return RegistryError(
            ErrorCode.UNAUTHORIZED,
            message,
            detail=detail,
            headers={"WWW-Authenticate": value},
        )


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


class BearerAuthenticator:
    def __init__(
        self,
        verifier: TokenVerifier,
        policy: AccessPolicy,
        challenge: Challenge,
        identity: IdentityProvider | None = None,
    ) -> None:
        self.verifier = verifier
        self.policy = policy
        self.challenge = challenge
        self.identity = identity  # re-checks the subject on every request (revocation)

    async def authenticate(
        self, request: Request, found: tuple[Route, dict[str, str]] | None
    ) -> Principal:
        needs = needed_access(found, request.method, request.param("from"))
        raw = bearer_token(request.headers.get("authorization"))
        if raw is None:
            raise self.challenge.error(request, needs, None)
        try:
            verified = self.verifier.verify(raw)
        except TokenError as exc:
            log.info("bearer token refused: %s", exc)
            self._audit(request, "", "invalid")
            raise self.challenge.error(request, needs, "invalid_token") from None
        principal = Principal(
            verified.subject, authenticated=bool(verified.subject), access=verified.access
        )
        if self.identity is not None:
            principal = await self._current(request, needs, verified)
            principal = await self._create_on_push(request, found, principal)
            principal = await self._planned_push(principal, needs)
        if not all(self.policy.allows(principal, action, repo) for action, repo in needs):
            self._audit(request, principal.name, "insufficient_scope")
            raise self.challenge.error(request, needs, "insufficient_scope")
        return principal

    async def _create_on_push(
        self, request: Request, found: tuple[Route, dict[str, str]] | None, principal: Principal
    ) -> Principal:
        """At a push the token allows, the project it names may be created (``createonpush``)."""
        pushed = pushed_repository(found, request.method)
        access = principal.access
        if pushed is None or access is None or not access.permits(*resource_for("push", pushed)):
            return principal
        assert self.identity is not None
        created = await self.identity.prepare_push(principal, [pushed])
        return replace(created, access=access)

    async def _planned_push(self, principal: Principal, needs: Sequence[Need]) -> Principal:
        """Reads a push makes before it writes (is this layer there already?) in a project the
        token lets its user create by pushing (``createonpush``) but that does not exist yet:
        allowed as /token planned them, so they answer 404 like any empty repository instead of
        401 (which fails docker, podman and skopeo pushes). Nothing is created here."""
        access = principal.access
        repositories = [
            repository
            for _action, repository in needs
            if repository is not None
            and access is not None
            and access.permits(*resource_for("push", repository))
            and not self.policy.allows(principal, Action.PULL, repository)
        ]
        if not repositories:
            return principal
        assert self.identity is not None
        planned = await self.identity.plan_push(principal, repositories)
        return replace(planned, access=access)

    def _audit(self, request: Request, subject: str, reason: str) -> None:
        """A refused token into the audit log (sampled per address by the identity service);
        a request without any token is only the challenge and is not recorded."""
        if self.identity is not None:
            detail: dict[str, object] = {"reason": reason, "status": 401}
            self.identity.refused(subject, client_address(request), "token.refused", detail)

    async def _current(
        self, request: Request, needs: Sequence[Need], verified: VerifiedToken
    ) -> Principal:
        """The token's subject as the identity database knows it now, bounded by the token."""
        assert self.identity is not None
        client = client_address(request)
        if not verified.subject:
            current: Principal | None = await self.identity.anonymous(client)
        else:
            via = str(verified.claims.get(VIA_CLAIM) or "")
            current = await self.identity.resolve(verified.subject, via, client)
        if current is None or not _stamp_current(verified, current):
            log.info("bearer token refused: its subject is gone or revoked")
            self._audit(request, verified.subject, "revoked")
            raise self.challenge.error(request, needs, "invalid_token")
        return replace(current, access=verified.access)


def _stamp_current(verified: VerifiedToken, current: Principal) -> bool:
    """False when the token names a credential stamp that is no longer the subject's (a new
    secret or password, disabled and enabled again). Tokens of another issuer carry none."""
    stamp = verified.claims.get(STAMP_CLAIM)
    if stamp is None:
        return True
    return current.identity is not None and current.identity.stamp == stamp


@dataclass(frozen=True, slots=True)
class TokenApi:
    """Token wiring handed to the app: bearer checks, and the token endpoint in issuer mode."""

    bearer: BearerAuthenticator
    endpoint: TokenEndpoint | None = None

    def serves(self, path: str) -> bool:
        return self.endpoint is not None and self.endpoint.handles(path)

    async def handle(self, ctx: Context) -> None:
        """The token endpoint's surface (mounted at ``/token`` in the HTTP shell)."""
        if self.endpoint is None or not self.endpoint.handles(ctx.request.path):
            raise RegistryError(ErrorCode.UNSUPPORTED, "not found", status=404)
        await self.endpoint.handle(ctx)
