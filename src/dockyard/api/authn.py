"""Who is calling: the one authenticator interface every surface uses, and its simplest kinds.

:class:`Authenticator` is what a surface is handed; bootstrap chooses the implementation from
the configuration (``bootstrap.choose_authenticator``): none (anonymous), htpasswd Basic
(here), identity management's logins (``identity_authn.py``) or bearer tokens
(``token_auth.py``). The ``/api/v1`` surface has its own (``identity_authn.ManagementLogin``).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Protocol

from dockyard.api.http import Request
from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.core.errors import ErrorCode, RegistryError

if TYPE_CHECKING:
    from dockyard.api.v2.router import Route

class Authenticator(Protocol):
    """Authenticate a request once: the principal, or a 401 (``RegistryError``) carrying the
    challenge. ``found`` is the matched ``/v2`` route (None elsewhere, or when none matched):
    what the request will need decides whether an anonymous caller may go on."""

    async def authenticate(
        self, request: Request, found: tuple[Route, dict[str, str]] | None
    ) -> Principal: ...


class NoAuthentication:
    """No ``auth`` section: every caller is anonymous (as registry:2 without auth)."""

    async def authenticate(
        self, request: Request, found: tuple[Route, dict[str, str]] | None
    ) -> Principal:
        return ANONYMOUS


class BasicAuthenticator:
    """``auth.htpasswd``: HTTP Basic against the htpasswd file."""

    def __init__(self, htpasswd: HtpasswdFile, realm: str) -> None:
        self.htpasswd = htpasswd
        self.challenge = f'Basic realm="{realm}"'

    async def authenticate(
        self, request: Request, found: tuple[Route, dict[str, str]] | None
    ) -> Principal:
        credentials = basic_credentials(request.header(b"authorization"))
        if credentials is None:
            raise self._unauthorized("authentication required")
        user, password = credentials
        if not await self.htpasswd.verify(user, password):
            raise self._unauthorized("invalid username or password")
        return Principal(user)

    def _unauthorized(self, message: str) -> RegistryError:
        return RegistryError(
            ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": self.challenge}
        )


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None when it is not one."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
