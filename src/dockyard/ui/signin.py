"""Who the UI's caller is: signing in with a password, and the principal of a session.

The registry's own authentication mode decides: with identity management, the login service
(local users, LDAP, htpasswd, robots, access tokens; throttled and audited like every other
login); with only an htpasswd file, that file; with no authentication, everyone is anonymous
and may see everything (registry:2's rules); with tokens from an external issuer
(``auth.token``) the UI cannot sign anyone in and shows what anonymous callers may pull.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.auth.token_service import InvalidCredentialsError
from dockyard.services.registry import Registry
from dockyard.services.web_sessions import WebSession

HTPASSWD = "htpasswd"


@dataclass(frozen=True, slots=True)
class SignedIn:
    subject: str
    via: str
    principal: Principal


class SignInRefusedError(Exception):
    """Wrong name or password (the message never says which)."""


class SignIn:
    def __init__(self, registry: Registry, *, token_only: bool = False) -> None:
        identity = registry.identity
        self.login = identity.login if identity is not None and identity.enabled else None
        self.htpasswd = registry.htpasswd
        self.policy = registry.policy
        self.token_only = token_only

    @property
    def available(self) -> bool:
        """Whether a password can sign anyone in here."""
        return not self.token_only and (self.login is not None or self.htpasswd is not None)

    @property
    def identity(self) -> bool:
        return self.login is not None

    async def password(self, username: str, password: str, client: str) -> SignedIn:
        """Check a password; raises SignInRefusedError (or a 429/503 RegistryError)."""
        if self.login is not None:
            try:
                principal = await self.login.login(username, password, client)
            except InvalidCredentialsError:
                raise SignInRefusedError from None
            via = principal.identity.via if principal.identity is not None else ""
            return SignedIn(principal.name, via, principal)
        if (
            self.htpasswd is not None
            and not self.token_only
            and await self.htpasswd.verify(username, password)
        ):
            return SignedIn(username, HTPASSWD, Principal(username, client=client))
        raise SignInRefusedError

    async def principal(self, session: WebSession | None, client: str) -> Principal | None:
        """The session's principal; None when its account is gone or changed (sign in again)."""
        if session is None:
            return await self.anonymous(client)
        if self.login is not None:
            return await self.login.resolve(session.subject, session.via, client)
        if self.htpasswd is not None and session.via == HTPASSWD:
            return Principal(session.subject, client=client)
        return None

    async def anonymous(self, client: str) -> Principal:
        if self.login is not None:
            return await self.login.anonymous(client)
        return ANONYMOUS
