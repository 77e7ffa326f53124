"""HTTP Basic for ``/v2`` when identity management is on (without the token service).

Credentials are a user's password, a personal access token (with the user's name) or a robot's
name and secret. A request without credentials proceeds as anonymous when anonymous callers
may do what it needs (pulls from public projects); otherwise it gets the Basic challenge, as
does ``/v2/`` itself (clients probe it to learn that they should log in). Wrong credentials:
401 with one message whatever was wrong; too many failures: 429 with ``Retry-After``.

:class:`ManagementLogin` is the same logins for ``/api/v1``, where a caller without
credentials is always anonymous (public projects are readable) and a personal access token
may also come as ``Authorization: Bearer dyp_...``.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from dockyard.api.authn import basic_credentials
from dockyard.api.http import Request, client_address
from dockyard.api.token_auth import Need, needed_access, pushed_repository
from dockyard.auth.identity import IdentityProvider
from dockyard.auth.policy import AccessPolicy, Action
from dockyard.auth.principal import Principal
from dockyard.auth.secrets import parse_token
from dockyard.auth.token_service import InvalidCredentialsError
from dockyard.core.errors import ErrorCode, RegistryError
from dockyard.services.identity.wiring import IdentityServices

if TYPE_CHECKING:
    from dockyard.api.v2.router import Route


class IdentityAuthenticator:
    def __init__(self, identity: IdentityProvider, policy: AccessPolicy, realm: str) -> None:
        self.identity = identity
        self.policy = policy
        self.challenge = f'Basic realm="{realm}"'

    def unauthorized(self, message: str) -> RegistryError:
        return RegistryError(
            ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": self.challenge}
        )

    async def login(self, header: str | None, client: str) -> Principal | None:
        """The principal a Basic header proves; None without a header."""
        if not header:
            return None
        credentials = basic_credentials(header)
        if credentials is None:
            raise self.unauthorized("expected HTTP Basic credentials")
        try:
            return await self.identity.login(*credentials, client)
        except InvalidCredentialsError as exc:
            raise self.unauthorized(str(exc)) from None

    async def authenticate(
        self, request: Request, found: tuple[Route, dict[str, str]] | None
    ) -> Principal:
        client = client_address(request)
        needs = needed_access(found, request.method)
        principal = await self.login(request.headers.get("authorization"), client)
        if principal is None:
            principal = await self.identity.anonymous(client)
            if not needs or not all(self.policy.allows(principal, *need) for need in needs):
                raise self.unauthorized("authentication required")
            return principal
        pushed = pushed_repository(found, request.method)
        if pushed is not None:  # the first push into a missing project may create it
            return await self.identity.prepare_push(principal, [pushed])
        return await self._planned_push(principal, needs)

    async def _planned_push(self, principal: Principal, needs: list[Need]) -> Principal:
        """Reads a push makes before it writes (is this layer there already?) in a project the
        user may create by pushing (``createonpush``) but that does not exist yet: allowed, so
        they answer 404 like any empty repository instead of 403 (which fails docker, podman
        and skopeo pushes). Nothing is created here."""
        unreadable = [
            repository
            for action, repository in needs
            if action is Action.PULL
            and repository is not None
            and not self.policy.allows(principal, Action.PULL, repository)
        ]
        if not unreadable:
            return principal
        return await self.identity.plan_push(principal, unreadable)


class ManagementLogin:
    """The ``/api/v1`` authenticator: Basic (password, robot secret, personal access token),
    ``Bearer dyp_...`` (a personal access token), or anonymous without credentials."""

    def __init__(self, logins: IdentityAuthenticator, services: IdentityServices) -> None:
        self.logins = logins
        self.services = services
        self.challenge = logins.challenge

    def unauthorized(self, message: str) -> RegistryError:
        return self.logins.unauthorized(message)

    async def authenticate(
        self, request: Request, found: tuple[Route, dict[str, str]] | None
    ) -> Principal:
        header = request.headers.get("authorization", "")
        client = client_address(request)
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            token = parse_token(value.strip())
            if token is None:
                raise self.unauthorized("expected a personal access token")
            owner = await self.services.tokens.owner_of(token[0])
            header = _basic(owner, value.strip())
        principal = await self.logins.login(header or None, client)
        if principal is None:
            principal = await self.services.login.anonymous(client)
        return principal


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
