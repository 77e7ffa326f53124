"""Credential backends for identity management: external sources of users.

``HtpasswdBackend`` adapts the htpasswd file; LDAP and OIDC backends implement the same
``auth.identity.CredentialBackend`` protocol. A backend must take as long for an unknown user
as for a wrong password (it checks a dummy hash), so timing never tells who exists.
"""

from __future__ import annotations

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.identity import ExternalIdentity
from dockyard.auth.secrets import verify_password


class HtpasswdBackend:
    name = "htpasswd"

    def __init__(self, htpasswd: HtpasswdFile, dummy_cost: int = 12) -> None:
        self.htpasswd = htpasswd
        self.dummy_cost = dummy_cost

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        if self.htpasswd.stamp(username) is None:
            await verify_password(password, None, self.dummy_cost)
            return None
        if not await self.htpasswd.verify(username, password):
            return None
        return ExternalIdentity(username, self.name)
