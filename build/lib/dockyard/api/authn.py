"""Authenticate the caller once per request (HTTP Basic against htpasswd)."""

from __future__ import annotations

import base64
import binascii

from dockyard.auth.htpasswd import HtpasswdFile
from dockyard.auth.principal import ANONYMOUS, Principal
from dockyard.core.errors import ErrorCode, RegistryError


class BasicAuthenticator:
    def __init__(self, htpasswd: HtpasswdFile | None, realm: str) -> None:
        self.htpasswd = htpasswd
        self.challenge = f'Basic realm="{realm}"'

    @property
    def enabled(self) -> bool:
        return self.htpasswd is not None

    async def authenticate(self, authorization: str | None) -> Principal:
        if self.htpasswd is None:
            return ANONYMOUS
        credentials = basic_credentials(authorization)
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
