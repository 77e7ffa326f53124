"""What the token service and the request authenticators need from identity management.

Implemented by ``services.identity.login.LoginService``; declared here so ``auth`` and ``api``
depend on the protocol, not on the database. A credential backend (local users today;
htpasswd, LDAP and OIDC through :class:`CredentialBackend`) only answers "who is this?"; the
identity service turns the answer into a principal with grants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from dockyard.auth.principal import Principal

VIA_CLAIM = "dyv"  # in issued tokens: the credential used (pat:<id>), checked on every request
# in issued tokens: the stamp of the subject's credential entry when the token was issued. It
# changes with a new password or robot secret and with disabling or re-enabling, and a token
# whose stamp is no longer the current one is refused (access and refresh tokens alike).
STAMP_CLAIM = "cst"


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """A user an external backend vouches for, with the groups it reports."""

    username: str
    source: str  # the backend's name: "htpasswd", "ldap", "oidc"
    groups: tuple[str, ...] = ()
    email: str = ""
    recorded: bool = False  # already written to the database by the backend (group sync)


class CredentialBackend(Protocol):
    """An external source of users (htpasswd today; LDAP and OIDC plug in here).

    ``authenticate`` returns None for an unknown user and for a wrong password alike; users
    it vouches for are recorded in the database on first login (``source`` = ``name``) so
    they can be given roles, and their groups are kept in step.
    """

    name: str

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None: ...


class IdentityProvider(Protocol):
    async def login(self, username: str, password: str, client: str) -> Principal:
        """The principal these credentials prove (a user, a robot, a personal access token).

        Raises ``InvalidCredentialsError`` (one message whatever was wrong) or a
        ``RegistryError`` TOOMANYREQUESTS while logins are throttled.
        """
        ...

    def refused(
        self, name: str, client: str, event: str, detail: dict[str, object] | None = None
    ) -> None:
        """Note a refused request for the audit log (``token.refused``), without waiting:
        sampled per client address and written in batches, so a flood costs no writes."""
        ...

    async def resolve(self, subject: str, via: str, client: str) -> Principal | None:
        """The current principal for a token's subject; None once it is gone or revoked."""
        ...

    async def anonymous(self, client: str) -> Principal:
        """A caller without credentials: public projects only."""
        ...

    async def plan_push(self, principal: Principal, repositories: Iterable[str]) -> Principal:
        """For a token: push rights on missing projects the principal would create by pushing,
        without creating them."""
        ...

    async def prepare_push(self, principal: Principal, repositories: Iterable[str]) -> Principal:
        """At a push that writes: create missing projects the principal may create by
        pushing; fresh grants."""
        ...
